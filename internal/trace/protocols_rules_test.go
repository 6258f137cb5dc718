package trace

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Each test names the rule of thrift_proxy, redis_proxy or the network
// RBAC filter it checks, on a hand-built proxy whose clusters a, b and c
// reach 10.1.0.1, .2 and .3.

func l7Proxy(filters ...*listenerv3.Filter) *plugin.Proxy {
	return &plugin.Proxy{ID: "p",
		Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("l7", nil, filters...))},
		Clusters:  []*clusterv3.Cluster{staticCluster("a", ipEndpoint("10.1.0.1", 80)), staticCluster("b", ipEndpoint("10.1.0.2", 80)), staticCluster("c", ipEndpoint("10.1.0.3", 80))},
	}
}

func thriftFilter(routes ...*thriftv3.Route) *listenerv3.Filter {
	return xds.NetworkFilter("envoy.filters.network.thrift_proxy", &thriftv3.ThriftProxy{StatPrefix: "t", RouteConfig: &thriftv3.RouteConfiguration{Routes: routes}})
}

func thriftRoute(m *thriftv3.RouteMatch, cluster string) *thriftv3.Route {
	return &thriftv3.Route{Match: m, Route: &thriftv3.RouteAction{ClusterSpecifier: &thriftv3.RouteAction_Cluster{Cluster: cluster}}}
}

func method(name string) *thriftv3.RouteMatch {
	return &thriftv3.RouteMatch{MatchSpecifier: &thriftv3.RouteMatch_MethodName{MethodName: name}}
}

func reached(t *testing.T, r *Result, want string) {
	t.Helper()
	if r.Destination != want {
		var b strings.Builder
		_ = r.Write(&b)
		t.Fatalf("reached %q, want %q\n%s", r.Destination, want, b.String())
	}
}

func TestThrift_FirstRouteWhoseMethodNameMatchesWins_EmptyMatchesAny(t *testing.T) {
	p := l7Proxy(thriftFilter(thriftRoute(method("sayHello"), "a"), thriftRoute(method(""), "b")))
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"method": "sayHello"}, p), "10.1.0.1:80")
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"method": "other"}, p), "10.1.0.2:80")
}

func TestThrift_ServiceNameMatchesTheMultiplexedPrefix(t *testing.T) {
	svc := &thriftv3.RouteMatch{MatchSpecifier: &thriftv3.RouteMatch_ServiceName{ServiceName: "Calc"}}
	p := l7Proxy(thriftFilter(thriftRoute(method("Calc:add"), "a"), thriftRoute(svc, "b"), thriftRoute(method(""), "c")))
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"service": "Calc", "method": "add"}, p), "10.1.0.1:80")
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"service": "Calc", "method": "sub"}, p), "10.1.0.2:80")
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"service": "Calculator", "method": "sub"}, p), "10.1.0.3:80")
}

func TestThrift_EveryHeaderMustMatch_InvertNegatesTheMethod(t *testing.T) {
	m := method("get")
	m.Headers = []*routev3.HeaderMatcher{
		{Name: "tenant", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "be"}}}},
		{Name: "debug", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}},
	}
	inv := method("get")
	inv.Invert = true
	p := l7Proxy(thriftFilter(thriftRoute(m, "a"), thriftRoute(inv, "b"), thriftRoute(method(""), "c")))
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"method": "get", "tenant": "beta", "debug": "1"}, p), "10.1.0.1:80")
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"method": "get", "tenant": "beta"}, p), "10.1.0.3:80")
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"method": "put"}, p), "10.1.0.2:80")
}

func TestThrift_WeightedClustersFollowTheHeaviestAndMirrorsAreReported(t *testing.T) {
	r := thriftRoute(method(""), "")
	r.Route = &thriftv3.RouteAction{
		ClusterSpecifier: &thriftv3.RouteAction_WeightedClusters{WeightedClusters: &thriftv3.WeightedCluster{Clusters: []*thriftv3.WeightedCluster_ClusterWeight{
			{Name: "a", Weight: wrapperspb.UInt32(20)}, {Name: "b", Weight: wrapperspb.UInt32(80)}}}},
		RequestMirrorPolicies: []*thriftv3.RouteAction_RequestMirrorPolicy{{Cluster: "c", RuntimeFraction: &corev3.RuntimeFractionalPercent{
			DefaultValue: &typev3.FractionalPercent{Numerator: 125000, Denominator: typev3.FractionalPercent_MILLION}}}},
	}
	res := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"method": "m"}, l7Proxy(thriftFilter(r)))
	reached(t, res, "10.1.0.2:80")
	h := wantHop(t, res, StepRoute, "route 0")
	if !strings.Contains(h.Detail, "a weight 20 (20%), b weight 80 (80%)") || !strings.Contains(h.Detail, "mirrored to c (12.5% of calls)") {
		t.Errorf("route hop: %s", h.Detail)
	}
}

func TestThrift_NoRouteStopsTheCall(t *testing.T) {
	res := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:9090", map[string]string{"method": "x"}, l7Proxy(thriftFilter(thriftRoute(method("y"), "a"))))
	if res.Outcome != Stopped || !strings.Contains(res.Reason, `no route matches thrift call "x"`) {
		t.Fatalf("want a stop for no route, got %s: %s", res.Outcome, res.Reason)
	}
}

func redisFilter(pr *redisproxyv3.RedisProxy_PrefixRoutes) *listenerv3.Filter {
	return xds.NetworkFilter("envoy.filters.network.redis_proxy", &redisproxyv3.RedisProxy{StatPrefix: "r", PrefixRoutes: pr,
		Settings: &redisproxyv3.RedisProxy_ConnPoolSettings{}})
}

func TestRedis_LongestPrefixWins_CaseInsensitive_RemovePrefix(t *testing.T) {
	p := l7Proxy(redisFilter(&redisproxyv3.RedisProxy_PrefixRoutes{CaseInsensitive: true, Routes: []*redisproxyv3.RedisProxy_PrefixRoutes_Route{
		{Prefix: "user:", Cluster: "a"}, {Prefix: "user:vip:", Cluster: "b", RemovePrefix: true}}}))
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:6379", map[string]string{"key": "USER:1"}, p), "10.1.0.1:80")
	res := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:6379", map[string]string{"key": "user:vip:7"}, p)
	reached(t, res, "10.1.0.2:80")
	if h := wantHop(t, res, StepRoute, `prefix "user:vip:"`); !strings.Contains(h.Detail, `sent as key "7"`) {
		t.Errorf("remove_prefix not reported: %s", h.Detail)
	}
}

func TestRedis_CatchAllElseTheCommandFails(t *testing.T) {
	routes := []*redisproxyv3.RedisProxy_PrefixRoutes_Route{{Prefix: "a:", Cluster: "a"}}
	with := l7Proxy(redisFilter(&redisproxyv3.RedisProxy_PrefixRoutes{Routes: routes, CatchAllRoute: &redisproxyv3.RedisProxy_PrefixRoutes_Route{Cluster: "c"}}))
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:6379", map[string]string{"key": "b:1"}, with), "10.1.0.3:80")
	without := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:6379", map[string]string{"key": "b:1"}, l7Proxy(redisFilter(&redisproxyv3.RedisProxy_PrefixRoutes{Routes: routes})))
	if without.Outcome != Stopped || !strings.Contains(without.Reason, "no catch-all route") {
		t.Fatalf("want a stop without catch-all, got %s: %s", without.Outcome, without.Reason)
	}
}

func TestRedis_MirrorsSkipReadsWhenExcluded(t *testing.T) {
	route := &redisproxyv3.RedisProxy_PrefixRoutes_Route{Cluster: "a", RequestMirrorPolicy: []*redisproxyv3.RedisProxy_PrefixRoutes_Route_RequestMirrorPolicy{
		{Cluster: "b", ExcludeReadCommands: true}, {Cluster: "c", RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 25}}}}}
	p := l7Proxy(redisFilter(&redisproxyv3.RedisProxy_PrefixRoutes{CatchAllRoute: route}))
	get := wantHop(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:6379", map[string]string{"key": "k", "command": "get"}, p), StepRoute, "catch-all")
	set := wantHop(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:6379", map[string]string{"key": "k", "command": "set"}, p), StepRoute, "catch-all")
	if !strings.Contains(get.Detail, "not mirrored to b") || !strings.Contains(get.Detail, "mirrored to c (25% of commands)") {
		t.Errorf("GET: %s", get.Detail)
	}
	if !strings.Contains(set.Detail, "mirrored to b (100% of commands)") {
		t.Errorf("SET: %s", set.Detail)
	}
}

func rbacFilter(action rbacconfigv3.RBAC_Action, principals ...*rbacconfigv3.Principal) *listenerv3.Filter {
	return xds.NetworkFilter("envoy.filters.network.rbac", &rbacv3.RBAC{StatPrefix: "rbac", Rules: &rbacconfigv3.RBAC{Action: action, Policies: map[string]*rbacconfigv3.Policy{
		"p": {Permissions: []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}}, Principals: principals}}}})
}

func peer(m *matcherv3.StringMatcher) *rbacconfigv3.Principal {
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_FilterState{FilterState: &matcherv3.FilterStateMatcher{
		Key: plugin.FilterStatePeerPrincipal, Matcher: &matcherv3.FilterStateMatcher_StringMatch{StringMatch: m}}}}
}

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

// withPeer sets the caller's identity in filter state, as a waypoint does.
func withPeer(id string) *listenerv3.Filter {
	return setState(sfsvaluev3.FilterStateValue_NONE, plugin.FilterStatePeerPrincipal, id)
}

func TestRBAC_DenyWhenAPolicyMatches_FilterStatePrincipal(t *testing.T) {
	deny := rbacFilter(rbacconfigv3.RBAC_DENY, peer(exact("spiffe://td/ns/bad/sa/x")))
	res := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, l7Proxy(withPeer("spiffe://td/ns/bad/sa/x"), deny, tcp("a")))
	if res.Outcome != Stopped || !strings.Contains(res.Reason, "RBAC DENY") {
		t.Fatalf("want denied, got %s: %s", res.Outcome, res.Reason)
	}
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, l7Proxy(withPeer("spiffe://td/ns/good/sa/x"), deny, tcp("a"))), "10.1.0.1:80")
}

func TestRBAC_AllowOnlyWhenAPolicyMatches_AbsentStateNeverMatches(t *testing.T) {
	allow := rbacFilter(rbacconfigv3.RBAC_ALLOW, peer(exact("spiffe://td/ns/good/sa/x")))
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, l7Proxy(withPeer("spiffe://td/ns/good/sa/x"), allow, tcp("a"))), "10.1.0.1:80")
	if res := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, l7Proxy(allow, tcp("a"))); res.Outcome != Stopped {
		t.Fatalf("a caller without identity must not match an ALLOW policy, got %s", res.Outcome)
	}
}

func TestRBAC_AndOrNotCompose(t *testing.T) {
	id := func(ids ...*rbacconfigv3.Principal) *rbacconfigv3.Principal_Set {
		return &rbacconfigv3.Principal_Set{Ids: ids}
	}
	ns := peer(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `spiffe://[^/]+/ns/shop/sa/[^/]+`}}})
	notRobot := &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_NotId{NotId: peer(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "/sa/robot"}})}}
	and := &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_AndIds{AndIds: id(ns, notRobot)}}
	allow := rbacFilter(rbacconfigv3.RBAC_ALLOW, and)
	reached(t, simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, l7Proxy(withPeer("spiffe://td/ns/shop/sa/web"), allow, tcp("a"))), "10.1.0.1:80")
	for _, who := range []string{"spiffe://td/ns/shop/sa/robot", "spiffe://td/ns/other/sa/web"} {
		if res := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, l7Proxy(withPeer(who), allow, tcp("a"))); res.Outcome != Stopped {
			t.Errorf("%s: want denied, got %s", who, res.Outcome)
		}
	}
}

func TestRBAC_UnsimulatedPrincipalDeniesToStaySafe(t *testing.T) {
	ip := &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_DirectRemoteIp{DirectRemoteIp: cidrs("10.0.0.0/8")[0]}}
	res := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, l7Proxy(rbacFilter(rbacconfigv3.RBAC_ALLOW, ip), tcp("a")))
	if res.Outcome != Stopped || !strings.Contains(res.Reason, "not simulated") {
		t.Fatalf("want a safe denial, got %s: %s", res.Outcome, res.Reason)
	}
}
