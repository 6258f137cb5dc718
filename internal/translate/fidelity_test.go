package translate_test

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dubbocodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/dubbo/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

func translatorWith(t *testing.T, targets plugin.Targets, plugins ...plugin.Plugin) *translate.Translator {
	t.Helper()
	reg, err := plugin.NewRegistry(plugins...)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// genericFilter is generic_proxy with the Dubbo codec and a route to the
// port's own cluster; split, a weighted route to two clusters.
func genericFilter(ctx *plugin.BuildContext, split bool) []*listenerv3.Filter {
	r := metaroute.DefaultRoute(ctx)
	if split {
		c := r.Destinations[0]
		c.Weight, r.Destinations[0].Weight = 50, 50
		r.Destinations = append(r.Destinations, c)
	}
	rc := genericproxy.RouteConfig(ctx, ctx.StatPrefix(), []metaroute.Route{r}, genericproxy.DubboInputs())
	return []*listenerv3.Filter{genericproxy.Filter(ctx.StatPrefix(), xds.TypedConfig(dubbo.CodecName, &dubbocodecv3.DubboCodecConfig{}), rc)}
}

// TestFidelityGateRefusesWhatTheBuildLacks: a plugin that emits
// generic_proxy for istio-proxy sidecars is refused, naming the service,
// the role, the build and what would carry it; the same plugin passes for
// sidecars that run upstream Envoy.
func TestFidelityGateRefusesWhatTheBuildLacks(t *testing.T) {
	f := &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { return genericFilter(ctx, false), nil }}
	out := translatorWith(t, plugin.DefaultTargets(), f).Translate(snapshot(t, mesh))
	errs := errorsOf(out)
	if len(errs) != 4 {
		t.Fatalf("want a's and b's two sidecar roles refused, got %v", errs)
	}
	for _, d := range errs {
		if d.Reason != fidelity.ReasonExtensionMissing || d.Object.Kind != "Service" {
			t.Errorf("reason %s on %s, want %s on the Service", d.Reason, d.Object, fidelity.ReasonExtensionMissing)
		}
		for _, want := range []string{"for sidecar-", "(proxy build istio-proxy)", "refused by the fidelity gate", "github.com/istio/proxy",
			"envoy.filters.network.generic_proxy", "Didn't find a registered implementation for name: 'envoy.filters.network.generic_proxy'", "builds that have it: envoy", "fails closed"} {
			if !strings.Contains(d.Message, want) {
				t.Errorf("message lacks %q: %s", want, d.Message)
			}
		}
	}
	for _, u := range out.Units {
		if !u.FailedClosed || u.Profile.Name != profile.IstioProxy {
			t.Errorf("unit %s: failed closed %v, profile %s", u.Key, u.FailedClosed, u.Profile)
		}
	}

	envoySidecars := plugin.DefaultTargets()
	envoySidecars.Sidecar = profile.MustGet(profile.Envoy)
	out = translatorWith(t, envoySidecars, f).Translate(snapshot(t, mesh))
	if errs := errorsOf(out); len(errs) != 0 {
		t.Fatalf("sidecars running upstream Envoy have generic_proxy, yet: %v", errs)
	}
	for _, ef := range out.EnvoyFilters {
		if ef.Annotation(translate.ProfileAnnotation) != profile.Envoy {
			t.Errorf("EnvoyFilter %s does not say it is for the envoy build: %v", ef.Name, ef.Annotations())
		}
	}
}

// TestFidelityGateRefusesNotImplementedFieldsAndKeepsLastGood: a weighted
// generic_proxy route (ignored by Envoy) is refused like invalid config,
// keeping the last good output.
func TestFidelityGateRefusesNotImplementedFieldsAndKeepsLastGood(t *testing.T) {
	split := false
	f := &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { return genericFilter(ctx, split), nil }}
	targets := plugin.DefaultTargets()
	targets.Sidecar = profile.MustGet(profile.Envoy)
	tr := translatorWith(t, targets, f)
	if errs := errorsOf(tr.Translate(snapshot(t, mesh))); len(errs) != 0 {
		t.Fatal(errs)
	}
	split = true
	bad := tr.Translate(snapshot(t, strings.Replace(mesh, "10.0.0.1", "10.0.0.9", 1)))
	found := false
	for _, d := range errorsOf(bad) {
		if d.Reason == fidelity.ReasonNotImplemented && strings.Contains(d.Message, "RouteAction.weighted_clusters is marked [#not-implemented-hide:]") && strings.Contains(d.Message, "last good config is kept") {
			found = true
		}
	}
	if !found {
		t.Fatalf("want weighted_clusters refused keeping the last good config, got %v", bad.Diagnostics)
	}
	for _, u := range bad.Units {
		if u.FailedClosed || (u.Service.Hostname == "a.ns.svc.cluster.local" && !u.Stale) {
			t.Errorf("unit %s: stale %v, failed closed %v", u.Key, u.Stale, u.FailedClosed)
		}
	}
}

// deprecatedProxy serves a proxy whose route table uses a deprecated field.
type deprecatedProxy struct{ gatedProxy }

func (deprecatedProxy) BuildProxy(_ *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	tcp := xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{StatPrefix: "t", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}})
	return &plugin.Proxy{ID: id, Kind: plugin.ProxyKindProxyless,
		Listeners: []*listenerv3.Listener{{Name: "l", Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 1}}}},
			FilterChains: []*listenerv3.FilterChain{{Name: "c", Filters: []*listenerv3.Filter{tcp}}}}},
		Routes: []*routev3.RouteConfiguration{{Name: "r", ValidateClusters: wrapperspb.Bool(false), VirtualHosts: []*routev3.VirtualHost{{Name: "v", Domains: []string{"*"},
			Routes: []*routev3.Route{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{{Name: "h", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "x"}}}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}}}}}}}},
	}, nil
}

// TestProxyFidelityFollowsTheProxysKind: a proxy is checked against its
// kind's build (grpc-go for proxyless clients, which has no tcp_proxy):
// refused with the build named, and its deprecated fields are warnings.
func TestProxyFidelityFollowsTheProxysKind(t *testing.T) {
	out := translatorWith(t, plugin.DefaultTargets(), deprecatedProxy{}).Translate(snapshot(t, mesh))
	p := out.Proxies[0]
	if p.Profile == nil || p.Profile.Name != profile.GRPCGo || len(p.Listeners) != 0 {
		t.Fatalf("proxy checked against %v with %d listeners served", p.Profile, len(p.Listeners))
	}
	var refused, deprecated bool
	for _, d := range p.Diagnostics {
		refused = refused || d.Severity == model.SeverityError && d.Reason == fidelity.ReasonExtensionMissing && strings.Contains(d.Message, "listener l: ") && strings.Contains(d.Message, "not in the grpc-go build")
		deprecated = deprecated || d.Severity == model.SeverityWarning && strings.Contains(d.Message, "HeaderMatcher.exact_match is deprecated")
	}
	if !refused || !deprecated {
		t.Errorf("refused %v (tcp_proxy on grpc-go), deprecated warning %v: %v", refused, deprecated, p.Diagnostics)
	}
}

// TestAddresslessServiceEntriesOnOnePort: sidecars reach both through one
// 0.0.0.0_<port> listener with one tcp_proxy chain, so the later one is
// refused with an error naming both, not silently shadowed.
func TestAddresslessServiceEntriesOnOnePort(t *testing.T) {
	se := func(name, addresses string) string {
		return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ` + name + `, namespace: ns}
spec:
  hosts: [` + name + `.example]` + addresses + `
  ports: [{number: 20880, name: tcp-metaprotocol-dubbo, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.1.0.1}]`
	}
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := translatorWith(t, plugin.DefaultTargets(), d).Translate(snapshot(t, se("first", ""), se("second", "")))
	errs := errorsOf(out)
	if len(errs) != 1 || errs[0].Object.Name != "second" || errs[0].Reason != "SharedListener" ||
		!strings.Contains(errs[0].Message, "second.example and first.example (ServiceEntry ns/first) both have port 20880 and no address") ||
		!strings.Contains(errs[0].Message, "0.0.0.0_20880") {
		t.Fatalf("want one error on ServiceEntry second naming both, got %v", errs)
	}
	if envoyFilter(out, "aeraki-outbound-second.example") != nil || envoyFilter(out, "aeraki-outbound-first.example") == nil {
		t.Error("want first's outbound EnvoyFilter only")
	}
	out = translatorWith(t, plugin.DefaultTargets(), d).Translate(snapshot(t, se("first", "\n  addresses: [240.0.0.1]"), se("second", "\n  addresses: [240.0.0.2]")))
	if errs := errorsOf(out); len(errs) != 0 {
		t.Fatalf("with addresses each has its own listener, yet: %v", errs)
	}
}
