package trace

import (
	"net/netip"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	redisclusterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/redis/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	gpactionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/action/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// simulateOn runs a call with each proxy running a build.
func simulateOn(t *testing.T, profiles map[string]*profile.Profile, src, dst string, attrs map[string]string, proxies ...*plugin.Proxy) *Result {
	t.Helper()
	m := map[string]*plugin.Proxy{}
	for _, p := range proxies {
		m[p.ID] = p
	}
	s := &Simulator{Proxies: m, Profiles: profiles, Network: net1}
	return s.Run(Call{Source: netip.MustParseAddrPort(src), Destination: netip.MustParseAddrPort(dst), Attributes: attrs})
}

// TestNACK_ListenerWithAnExtensionTheBuildLacks: istio-proxy has no
// generic_proxy, so it rejects the listener (registry_utils.h,
// lds_api.cc) and a call to it is refused; upstream Envoy runs it.
func TestNACK_ListenerWithAnExtensionTheBuildLacks(t *testing.T) {
	ra := &gpactionv3.RouteAction{ClusterSpecifier: &gpactionv3.RouteAction_Cluster{Cluster: "v1"}}
	p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("dubbo", nil, dubboChain(&xdsmatcher.Matcher{OnNoMatch: gpRoute("all", ra)})))},
		Clusters: []*clusterv3.Cluster{staticCluster("v1", ipEndpoint("10.0.0.1", 1))}}
	r := simulateOn(t, map[string]*profile.Profile{"p": profile.MustGet(profile.IstioProxy)}, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"method": "m"}, p)
	want := `NACK: "Error adding/updating listener(s) outbound: Didn't find a registered implementation for name: 'envoy.filters.network.generic_proxy'"`
	if r.Outcome != Stopped || !strings.Contains(r.Reason, want) || !strings.Contains(r.Reason, "(build istio-proxy)") || len(r.Find(StepListener, "p")) != 0 {
		t.Fatalf("want the listener NACKed on istio-proxy, got %s %q", r.Outcome, r.Reason)
	}
	r = simulateOn(t, map[string]*profile.Profile{"p": profile.MustGet(profile.Envoy)}, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"method": "m"}, p)
	if r.Destination != "10.0.0.1:1" {
		t.Fatalf("upstream Envoy has generic_proxy: %s %q", r.Outcome, r.Reason)
	}
}

// TestNACK_ClusterWithAnExtensionTheBuildLacks: a cluster whose type the
// build lacks is rejected (cds_api_helper.cc), so the call finds no
// cluster.
func TestNACK_ClusterWithAnExtensionTheBuildLacks(t *testing.T) {
	c := staticCluster("redis", ipEndpoint("10.0.0.1", 6379))
	c.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{Name: "envoy.clusters.redis", TypedConfig: xds.MustAny(&redisclusterv3.RedisClusterConfig{})}}
	p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("tcp", nil, tcp("redis")))}, Clusters: []*clusterv3.Cluster{c}}
	noRedis, err := profile.Parse([]byte(`name: tcp-only
description: a build with tcp_proxy and static clusters only
sources: [{what: extension list, repository: example.com/tcp-only, commit: test}]
extensions:
- {name: envoy.filters.network.tcp_proxy, types: [envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy]}
- {name: envoy.clusters.static}
- {name: envoy.filters.listener.original_dst, types: [envoy.extensions.filters.listener.original_dst.v3.OriginalDst]}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := simulateOn(t, map[string]*profile.Profile{"p": noRedis}, "10.0.0.1:40000", "10.9.9.9:6379", nil, p)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, `NACK: "Error adding/updating cluster(s) redis: Didn't find a registered implementation for name: 'envoy.clusters.redis'"`) {
		t.Fatalf("want the cluster NACKed, got %s %q", r.Outcome, r.Reason)
	}
}

func dubboTable(name, iface string, routes ...*dubbov3.Route) *dubbov3.RouteConfiguration {
	return &dubbov3.RouteConfiguration{Name: "r|" + name, Interface: iface, Routes: routes}
}

func dubboRoute(method *matcherv3.StringMatcher, cluster string, headers ...*routev3.HeaderMatcher) *dubbov3.Route {
	return &dubbov3.Route{Match: &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: method}, Headers: headers},
		Route: &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_Cluster{Cluster: cluster}}}
}

func dubboProxyFilter(tables ...*dubbov3.RouteConfiguration) *listenerv3.Filter {
	return xds.NetworkFilter("envoy.filters.network.dubbo_proxy", &dubbov3.DubboProxy{StatPrefix: "d",
		RouteSpecifier: &dubbov3.DubboProxy_MultipleRouteConfig{MultipleRouteConfig: &dubbov3.MultipleRouteConfiguration{Name: "r", RouteConfig: tables}}})
}

func dubboL7(tables ...*dubbov3.RouteConfiguration) *plugin.Proxy {
	return l7Proxy(dubboProxyFilter(tables...))
}

// TestDubboProxy_TablesFallThroughInOrder: MultiRouteMatcher tries the
// tables in order and a table whose routes all miss passes the call on
// (dubbo_proxy/router/route_matcher.cc).
func TestDubboProxy_TablesFallThroughInOrder(t *testing.T) {
	p := dubboL7(
		dubboTable("hello", "org.demo.Greeter", dubboRoute(exact("sayHello"), "a")),
		dubboTable("canary", "*", dubboRoute(exact("sayHello"), "b", &routev3.HeaderMatcher{Name: "env", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact("canary")}})),
		dubboTable("default", "*", dubboRoute(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}}, "c")),
	)
	call := func(attrs map[string]string) *Result {
		return simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", attrs, p)
	}
	reached(t, call(map[string]string{"interface": "org.demo.Greeter", "method": "sayHello"}), "10.1.0.1:80")
	r := call(map[string]string{"interface": "org.demo.Other", "method": "sayHello", "env": "canary"})
	reached(t, r, "10.1.0.2:80")
	if h := wantHop(t, r, StepRoute, "canary"); !strings.Contains(h.Detail, `hello: interface "org.demo.Other" does not match "org.demo.Greeter"`) {
		t.Errorf("hop %q does not say the first table did not apply", h.Detail)
	}
	reached(t, call(map[string]string{"interface": "org.demo.Greeter", "method": "sayGoodbye"}), "10.1.0.3:80")
	if r := call(map[string]string{"method": "sayHello"}); r.Outcome != Stopped || !strings.Contains(r.Reason, "--attr interface=") {
		t.Errorf("a call without interface: %s %q", r.Outcome, r.Reason)
	}
}

// TestDubboProxy_InterfacePatternsAreStrictlyLonger: "prefix*" and
// "*suffix" need more than the literal; "*" needs a non-empty interface.
func TestDubboProxy_InterfacePatternsAreStrictlyLonger(t *testing.T) {
	for _, c := range []struct {
		pattern, iface string
		want           bool
	}{
		{"org.demo.*", "org.demo.Greeter", true}, {"org.demo.*", "org.demo.", false}, {"*Service", "DemoService", true},
		{"*Service", "Service", false}, {"*", "x", true}, {"*", "", false}, {"org.demo.Greeter", "org.demo.Greeter", true},
	} {
		if got := dubboInterfaceMatches(c.pattern, c.iface); got != c.want {
			t.Errorf("interface %q against %q: %v, want %v", c.iface, c.pattern, got, c.want)
		}
	}
}

// TestDubboProxy_WeightedClustersArePicked: dubbo_proxy implements weights
// (RouteEntryImplBase::clusterEntry); the trace reports them and follows
// the heaviest.
func TestDubboProxy_WeightedClustersArePicked(t *testing.T) {
	route := dubboRoute(exact("sayHello"), "")
	route.Route = &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
		{Name: "a", Weight: wrapperspb.UInt32(20)}, {Name: "b", Weight: wrapperspb.UInt32(80)}}}}}
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"interface": "x", "method": "sayHello"}, dubboL7(dubboTable("split", "*", route)))
	reached(t, r, "10.1.0.2:80")
	if h := wantHop(t, r, StepRoute, "split"); !strings.Contains(h.Detail, "a weight 20 (20%), b weight 80 (80%)") {
		t.Errorf("hop %q", h.Detail)
	}
}

// TestDubboProxy_LocalReplies: no matching route, or a route to a cluster
// the proxy does not have, end in dubbo_proxy's local replies
// (dubbo_proxy/router/router_impl.cc, Router::onMessageDecoded).
func TestDubboProxy_LocalReplies(t *testing.T) {
	p := dubboL7(dubboTable("hello", "*", dubboRoute(exact("sayHello"), "a")), dubboTable("lost", "*", dubboRoute(exact("lost"), "nowhere")))
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"interface": "org.demo.Greeter", "method": "other"}, p)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, `"dubbo router: no route for interface 'org.demo.Greeter'"`) {
		t.Errorf("no route: %s %q", r.Outcome, r.Reason)
	}
	r = simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"interface": "org.demo.Greeter", "method": "lost"}, p)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, `"dubbo router: unknown cluster 'nowhere'"`) {
		t.Errorf("unknown cluster: %s %q", r.Outcome, r.Reason)
	}
}
