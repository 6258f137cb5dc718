package awesomerpc_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"example.com/awesomerpc"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest"
)

const applicationProtocol = `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: ApplicationProtocol
metadata: {name: awesomerpc}
spec: {protocol: awesomerpc, codec: awesomerpc.codec.v1.CodecConfig}`

// TestConformance runs aeraki's conformance kit on the plugin.
func TestConformance(t *testing.T) {
	plugintest.Run(t, awesomerpc.New(), plugintest.Options{Manifests: applicationProtocol})
}

const service = `apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  ports: [{name: tcp-metaprotocol-awesomerpc, port: 7777}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: greeter}
spec:
  hosts: [greeter]
  routes:
  - match: {attributes: {service: {exact: Greeter}, tenant: {prefix: beta}}}
    route: [{destination: {host: greeter}}]`

// TestCodecAndAttributes checks the plugin's own promises: the codec is the
// one the ApplicationProtocol names, "service" is the call's service and
// other attributes are properties.
func TestCodecAndAttributes(t *testing.T) {
	snap := plugintest.Snapshot(t, service+"\n---\n"+strings.ReplaceAll(applicationProtocol, "awesomerpc.codec.v1.CodecConfig", "acme.codecs.AwesomeV2"))
	filters, _, _ := plugintest.Build(t, awesomerpc.New(), snap, plugin.RoleSidecarOutbound, "greeter.plugintest.svc.cluster.local", 7777)
	js, err := protojson.Marshal(filters[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"acme.codecs.AwesomeV2"`, `type.googleapis.com/acme.codecs.AwesomeV2`, "HostMatchInput", `"propertyName":"tenant"`} {
		if !strings.Contains(strings.ReplaceAll(string(js), " ", ""), want) {
			t.Errorf("filter does not contain %s:\n%s", want, js)
		}
	}
}

// TestMissingApplicationProtocolFailsClosed: without the codec's
// ApplicationProtocol the port cannot be built, and aeraki says why.
func TestMissingApplicationProtocolFailsClosed(t *testing.T) {
	p := awesomerpc.New()
	snap := plugintest.Snapshot(t, service)
	view := snap.View()
	svc := view.Service("greeter.plugintest.svc.cluster.local")
	ctx := plugin.NewBuildContext(p.Name(), view, plugin.RoleSidecarOutbound, svc, svc.Ports[0])
	rc, _ := p.BuildRouteConfig(ctx)
	ctx.RouteConfig = rc
	_, err := p.BuildNetworkFilters(ctx)
	if err == nil || !strings.Contains(err.Error(), "no ApplicationProtocol defines protocol \"awesomerpc\"") || !strings.Contains(err.Error(), "plugin awesomerpc") {
		t.Fatalf("want an error naming the plugin and what to create, got %v", err)
	}
}
