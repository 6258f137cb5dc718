package render_test

import (
	"path/filepath"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// aerakiOnly are the errors a corpus folder for a codec only Aeraki's
// meta-protocol proxy has produces with the default proxy builds: one on
// the ApplicationProtocol, one on the MetaRouter, both naming the codec
// and the build that would carry it.
func aerakiOnly(protocol string) []string {
	msg := `codec "aeraki.meta_protocol.codec.` + protocol + `" needs Aeraki's aeraki.meta_protocol_proxy with the codec aeraki.meta_protocol.codec.` + protocol +
		`, which none of the proxy builds aeraki configures has (envoy, istio-proxy), so ports of protocol "` + protocol + `" stay plain TCP; if your proxies run aeraki-meta-protocol-proxy, select it (for sidecars: --sidecar-proxy aeraki-meta-protocol-proxy)`
	return []string{"ApplicationProtocol " + protocol + " (", "spec.codec: " + msg, "spec.hosts: not applied to port", msg}
}

// inNoBuild are the errors of a corpus folder whose codec no known build
// has (qza and videopacket are not in Aeraki's public meta-protocol proxy
// image either).
func inNoBuild(protocol string) []string {
	msg := `codec "aeraki.meta_protocol.codec.` + protocol + `" needs Aeraki's aeraki.meta_protocol_proxy with the codec aeraki.meta_protocol.codec.` + protocol +
		`, which none of the proxy builds aeraki configures has`
	return []string{"ApplicationProtocol " + protocol + " (", "spec.codec: " + msg, "spec.hosts: not applied to port", "no known build has it"}
}

// TestCorpusOnAerakiMetaProtocolProxy renders the corpus folders whose
// codecs only Aeraki's meta-protocol proxy has, for sidecars and
// waypoints running that image: brpc and trpc render clean with every
// port programmed and valid; qza and videopacket, whose codecs the image
// does not have, each get their errors and stay plain TCP.
func TestCorpusOnAerakiMetaProtocolProxy(t *testing.T) {
	root := corpusDir(t)
	aeraki := profile.MustGet(profile.AerakiMetaProtocolProxy)
	targets := plugin.DefaultTargets()
	targets.Sidecar, targets.Proxies[plugin.ProxyKindWaypoint] = aeraki, aeraki
	for p, wantErrors := range map[string]bool{"brpc": false, "trpc": false, "qza": true, "videopacket": true} {
		t.Run(p, func(t *testing.T) {
			res, err := render.Render(render.Options{Paths: []string{filepath.Join(root, "metaprotocol-"+p)}, Registry: registry(t), File: fileOptions("meta-" + p), Targets: targets})
			if err != nil {
				t.Fatal(err)
			}
			if wantErrors {
				if len(res.Errors()) != 2 {
					t.Errorf("want the ApplicationProtocol's and the MetaRouter's errors, got %v", res.Errors())
				}
				return
			}
			for _, d := range res.Errors() {
				t.Errorf("unexpected %s", d)
			}
			if len(res.Output.EnvoyFilters) < 2 {
				t.Errorf("want outbound and inbound EnvoyFilters, got %d", len(res.Output.EnvoyFilters))
			}
			checkOutput(t, res)
		})
	}
}
