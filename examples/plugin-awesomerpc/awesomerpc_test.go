package awesomerpc_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"example.com/awesomerpc"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

const applicationProtocol = `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: ApplicationProtocol
metadata: {name: awesomerpc}
spec: {protocol: awesomerpc, codec: awesomerpc.codec.v1.CodecConfig}`

// targets has sidecars and waypoints run the AwesomeRPC build.
func targets(t *testing.T, codec string) plugin.Targets {
	t.Helper()
	p, err := awesomerpc.Profile(codec)
	if err != nil {
		t.Fatal(err)
	}
	tg := plugin.DefaultTargets()
	tg.Sidecar, tg.Proxies[plugin.ProxyKindWaypoint] = p, p
	return tg
}

// conformancePolicy is an AwesomeRPCPolicy for the conformance kit's
// service, so every scenario also runs with the plugin's own kind read,
// validated and applied.
const conformancePolicy = `apiVersion: awesomerpc.example.com/v1alpha1
kind: AwesomeRPCPolicy
metadata: {name: conformance}
spec: {hosts: [` + plugintest.Host + `], timeout: 2s}`

// TestConformance runs aeraki's conformance kit on the plugin, for
// proxies running the AwesomeRPC build, with and without a policy.
func TestConformance(t *testing.T) {
	for _, port := range []string{"tcp-awesomerpc", "tcp-metaprotocol-awesomerpc"} {
		for name, manifests := range map[string]string{"no-policy": applicationProtocol, "policy": applicationProtocol + "\n---\n" + conformancePolicy} {
			t.Run(port+"/"+name, func(t *testing.T) {
				plugintest.Run(t, awesomerpc.New(), plugintest.Options{PortName: port, Manifests: manifests, Targets: targets(t, "awesomerpc.codec.v1.CodecConfig")})
			})
		}
	}
}

// TestClaimsItsProtocolName: next to every builtin plugin, the plugin owns
// ports named tcp-awesomerpc or with appProtocol awesomerpc (which wins
// over a name another plugin claims), and Aeraki's
// tcp-metaprotocol-awesomerpc; a port named for no plugin stays unowned.
func TestClaimsItsProtocolName(t *testing.T) {
	reg, err := plugin.NewRegistry(builtin.With(awesomerpc.New())...)
	if err != nil {
		t.Fatal(err)
	}
	snap := plugintest.SnapshotWith(t, reg, `apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  ports:
  - {name: tcp-awesomerpc, port: 7001}
  - {name: tcp-dubbo, appProtocol: awesomerpc, port: 7002}
  - {name: tcp-metaprotocol-awesomerpc, port: 7003}
  - {name: awesomerpc-v2, port: 7004}
  - {name: tcp-dubbo, port: 7005}
  - {name: tcp-coolrpc, port: 7006}`)
	svc := snap.View().Service("greeter.plugintest.svc.cluster.local")
	want := map[uint32]string{7001: "awesomerpc", 7002: "awesomerpc", 7003: "awesomerpc", 7004: "awesomerpc", 7005: "dubbo", 7006: ""}
	for _, port := range svc.Ports {
		got := ""
		if p := reg.ForPort(port); p != nil {
			got = p.Name()
		}
		if got != want[port.Number] {
			t.Errorf("port %d (%s, appProtocol %q, protocol %q): owned by %q, want %q", port.Number, port.Name, port.AppProtocol, port.Protocol, got, want[port.Number])
		}
	}
}

// TestStockBuildsStayAtL4: istio-proxy has neither generic_proxy nor the
// codec, so the port is left alone, with a warning saying why.
func TestStockBuildsStayAtL4(t *testing.T) {
	p := awesomerpc.New()
	snap := plugintest.Snapshot(t, service+"\n---\n"+applicationProtocol)
	view := snap.View()
	svc := view.Service("greeter.plugintest.svc.cluster.local")
	ctx := plugin.NewBuildContext(p.Name(), view, plugin.RoleSidecarOutbound, svc, svc.Ports[0])
	if _, err := p.BuildRouteConfig(ctx); !errors.Is(err, plugin.ErrSkipPort) {
		t.Fatalf("want the port skipped on %s, got %v", ctx.Profile, err)
	}
	if r := ctx.Reports(); len(r) != 1 || !strings.Contains(r[0].Message, "their build (istio-proxy) lacks generic_proxy") {
		t.Fatalf("want one warning naming the build, got %v", r)
	}
}

const service = `apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  ports: [{name: tcp-awesomerpc, port: 7777}]
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
	build := targets(t, "acme.codecs.AwesomeV2").Sidecar
	filters, _, _ := plugintest.BuildFor(t, awesomerpc.New(), snap, plugin.RoleSidecarOutbound, build, "greeter.plugintest.svc.cluster.local", 7777)
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
