package render_test

import (
	"path/filepath"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
)

// aerakiOnly are the errors a corpus folder for a codec only Aeraki's
// meta-protocol proxy has produces with the default options: one on the
// ApplicationProtocol, one on the MetaRouter, both naming the codec and
// the option.
func aerakiOnly(protocol string) []string {
	msg := `codec "aeraki.meta_protocol.codec.` + protocol + `" exists only in Aeraki's meta-protocol proxy, not in stock Envoy, so ports of protocol "` + protocol +
		`" stay plain TCP; if your proxies run the meta-protocol proxy image, set --plugin-option metaprotocol.aeraki-proxy=true`
	return []string{"ApplicationProtocol " + protocol + " (", "spec.codec: " + msg, "spec.hosts: not applied to port", msg}
}

// TestCorpusWithAerakiProxy renders the corpus folders whose codecs only
// Aeraki's meta-protocol proxy has with metaprotocol.aeraki-proxy=true:
// no errors, every port programmed, every patch valid.
func TestCorpusWithAerakiProxy(t *testing.T) {
	root := corpusDir(t)
	for _, p := range []string{"brpc", "trpc", "qza", "videopacket"} {
		t.Run(p, func(t *testing.T) {
			reg := registry(t)
			if err := reg.Configure(map[string]string{"metaprotocol.aeraki-proxy": "true"}); err != nil {
				t.Fatal(err)
			}
			res, err := render.Render(render.Options{Paths: []string{filepath.Join(root, "metaprotocol-"+p)}, Registry: reg, File: fileOptions("meta-" + p)})
			if err != nil {
				t.Fatal(err)
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
