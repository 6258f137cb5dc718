package trace

import (
	"strings"
	"testing"
	"time"

	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	sfshttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/set_filter_state/v3"
	gpactionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/action/v3"
	dubbocodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/dubbo/v3"
	gpmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/matcher/v3"
	gprouterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/router/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Each test names the Envoy behaviour of a listener filter, filter,
// cluster or transport socket it checks, on a hand-built proxy.

var net1 = &fakeNetwork{outboundProxy: "p", outboundPort: 15001, owners: map[string]string{"10.0.0.9": "q"}}

// twoStage is a proxy whose outbound chain runs filters then tcp_proxy to
// cluster "to-internal", whose endpoints enter internal listener "inner";
// inner's single chain proxies to an ORIGINAL_DST cluster.
func twoStage(outer []*listenerv3.Filter, endpoints ...*endpointv3.LbEndpoint) *plugin.Proxy {
	return &plugin.Proxy{ID: "p",
		Listeners: []*listenerv3.Listener{
			portListener("outbound", 15001, namedChain("outer", nil, append(outer, tcp("to-internal"))...)),
			internalListener("inner", namedChain("inner", nil, tcp("orig"))),
		},
		Clusters: []*clusterv3.Cluster{withPassthrough(staticCluster("to-internal", endpoints...)), originalDstCluster("orig")},
	}
}

func TestOriginalDst_InternalListenerPrefersMetadataOverFilterState(t *testing.T) {
	p := twoStage([]*listenerv3.Filter{setState(sfsvaluev3.FilterStateValue_ONCE, originalDstLocalKey, "%DOWNSTREAM_LOCAL_ADDRESS%")},
		internalEndpoint("inner", "a", map[string]string{"local": "10.0.0.5:8080"}))
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	if r.Destination != "10.0.0.5:8080" {
		t.Fatalf("reached %s: the endpoint metadata's local must win over filter state", r.Destination)
	}
}

func TestOriginalDst_InternalListenerRestoresFromFilterState(t *testing.T) {
	p := twoStage([]*listenerv3.Filter{setState(sfsvaluev3.FilterStateValue_ONCE,
		originalDstLocalKey, "%DOWNSTREAM_LOCAL_ADDRESS%", originalDstRemoteKey, "%DOWNSTREAM_REMOTE_ADDRESS%")},
		internalEndpoint("inner", "", map[string]string{"waypoint": "10.0.0.9:15008"}))
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	lf := r.Find(StepListenerFilter, "p")
	if len(lf) != 2 || !strings.Contains(lf[1].Detail, "destination 10.9.9.9:80 from filter state") || !strings.Contains(lf[1].Detail, "source 10.0.0.1:40000") {
		t.Fatalf("internal listener restore: %+v", lf)
	}
	if r.Destination != "10.9.9.9:80" {
		t.Fatalf("reached %s", r.Destination)
	}
}

func TestInternalUpstream_PassthroughMetadataOnlyForListedNamespaces(t *testing.T) {
	p := twoStage(nil, internalEndpoint("inner", "a", map[string]string{"local": "10.0.0.5:8080"}))
	p.Clusters[0].TransportSocket = nil // no internal_upstream passthrough: metadata stays on the host
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, "ORIGINAL_DST cluster orig finds no destination") {
		t.Fatalf("got %s %q: without passthrough the internal listener cannot restore anything", r.Outcome, r.Reason)
	}
}

func TestFilterState_SharedOnceReachesOnlyTheNextHop(t *testing.T) {
	// outer sets local_ip ONCE; inner forwards to a second internal
	// listener, which must not see it.
	p := twoStage([]*listenerv3.Filter{setState(sfsvaluev3.FilterStateValue_ONCE, originalDstLocalKey, "%DOWNSTREAM_LOCAL_ADDRESS%")},
		internalEndpoint("inner", "", nil))
	p.Listeners[1].FilterChains[0].Filters = []*listenerv3.Filter{tcp("to-third")}
	p.Listeners = append(p.Listeners, internalListener("third", namedChain("third", nil, tcp("orig"))))
	p.Clusters = append(p.Clusters, withPassthrough(staticCluster("to-third", internalEndpoint("third", "", nil))))
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	lf := r.Find(StepListenerFilter, "p")
	if len(lf) != 3 || !strings.Contains(lf[1].Detail, "from filter state") || strings.Contains(lf[2].Detail, "from filter state") {
		t.Fatalf("ONCE must reach the next listener only: %+v", lf)
	}
}

func TestFilterState_TransitiveKeepsTravelling(t *testing.T) {
	p := twoStage([]*listenerv3.Filter{setState(sfsvaluev3.FilterStateValue_TRANSITIVE, originalDstLocalKey, "%DOWNSTREAM_LOCAL_ADDRESS%")},
		internalEndpoint("inner", "", nil))
	p.Listeners[1].FilterChains[0].Filters = []*listenerv3.Filter{tcp("to-third")}
	p.Listeners = append(p.Listeners, internalListener("third", namedChain("third", nil, tcp("orig"))))
	p.Clusters = append(p.Clusters, withPassthrough(staticCluster("to-third", internalEndpoint("third", "", nil))))
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	if r.Destination != "10.9.9.9:80" {
		t.Fatalf("TRANSITIVE state must reach the third listener: %s %s", r.Outcome, r.Reason)
	}
}

func TestTCPProxy_ClusterFromFilterState(t *testing.T) {
	p := &plugin.Proxy{ID: "p",
		Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("c", nil,
			setState(sfsvaluev3.FilterStateValue_NONE, filterStateTCPProxyCluster, "chosen"), tcp("configured")))},
		Clusters: []*clusterv3.Cluster{staticCluster("configured", ipEndpoint("10.0.0.1", 1)), staticCluster("chosen", ipEndpoint("10.0.0.2", 2))},
	}
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	if r.Destination != "10.0.0.2:2" {
		t.Fatalf("reached %s: envoy.tcp_proxy.cluster overrides the configured cluster", r.Destination)
	}
}

func TestTCPProxy_WeightedClustersReportWeights(t *testing.T) {
	tp := xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpproxyv3.TcpProxy{StatPrefix: "w", ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{
		WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{{Name: "a", Weight: 20}, {Name: "b", Weight: 80}}}}})
	p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("c", nil, tp))},
		Clusters: []*clusterv3.Cluster{staticCluster("a", ipEndpoint("10.0.0.1", 1)), staticCluster("b", ipEndpoint("10.0.0.2", 2))}}
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	h := wantHop(t, r, StepFilter, "envoy.filters.network.tcp_proxy")
	if !strings.Contains(h.Detail, "a weight 20 (20%), b weight 80 (80%)") || r.Destination != "10.0.0.2:2" {
		t.Fatalf("weights not reported or heaviest not followed: %q -> %s", h.Detail, r.Destination)
	}
}

func TestEDS_EndpointsFromResourceSkippingUnhealthy(t *testing.T) {
	unhealthy := ipEndpoint("10.0.0.1", 1)
	unhealthy.HealthStatus = corev3.HealthStatus_UNHEALTHY
	eds := &clusterv3.Cluster{Name: "svc", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
	p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("c", nil, tcp("svc")))},
		Clusters:  []*clusterv3.Cluster{eds},
		Endpoints: []*endpointv3.ClusterLoadAssignment{{ClusterName: "svc", Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{unhealthy, ipEndpoint("10.0.0.2", 2)}}}}}}
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	h := wantHop(t, r, StepEndpoint, "10.0.0.2:2")
	if !strings.Contains(h.Detail, "1 healthy (2 total)") {
		t.Fatalf("endpoint hop %q", h.Detail)
	}
	p.Endpoints = nil
	if r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p); r.Outcome != Stopped || !strings.Contains(r.Reason, "no endpoint resource") {
		t.Fatalf("EDS without a resource: %s %q", r.Outcome, r.Reason)
	}
}

func TestOriginalDstCluster_HostPrecedenceAndPortOverride(t *testing.T) {
	orig := originalDstCluster("orig")
	orig.LbConfig = &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
		UpstreamPortOverride: wrapperspb.UInt32(15008),
		MetadataKey: &metadatav3.MetadataKey{Key: originalDstNamespace, Path: []*metadatav3.MetadataKey_PathSegment{{
			Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: "waypoint"}}}},
	}}
	build := func(md map[string]string, state ...string) *plugin.Proxy {
		p := twoStage(nil, internalEndpoint("inner", "x", md))
		p.Listeners[1].FilterChains[0].Filters = append([]*listenerv3.Filter{setState(sfsvaluev3.FilterStateValue_NONE, state...)}, tcp("orig"))
		if len(state) == 0 {
			p.Listeners[1].FilterChains[0].Filters = []*listenerv3.Filter{tcp("orig")}
		}
		p.Clusters[1] = orig
		return p
	}
	cases := []struct {
		name  string
		proxy *plugin.Proxy
		want  string
	}{
		{"restored destination", build(map[string]string{"local": "10.0.0.5:80"}), "10.0.0.5:15008"},
		{"metadata key beats restored destination", build(map[string]string{"local": "10.0.0.5:80", "waypoint": "10.0.0.7:1"}), "10.0.0.7:15008"},
		{"filter state beats metadata key", build(map[string]string{"local": "10.0.0.5:80", "waypoint": "10.0.0.7:1"}, filterStateOriginalDstAddress, "10.0.0.8:9"), "10.0.0.8:15008"},
	}
	for _, tc := range cases {
		r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, tc.proxy)
		if r.Destination != tc.want {
			t.Errorf("%s: reached %s (%s), want %s", tc.name, r.Destination, r.Reason, tc.want)
		}
	}
}

// hboneProxies are a client proxy tunnelling to 10.0.0.9:15008 and the
// proxy q there terminating CONNECT, with routes given.
func hboneProxies(clientCert string, vhosts []*routev3.VirtualHost) []*plugin.Proxy {
	tunnel := xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpproxyv3.TcpProxy{StatPrefix: "t",
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "hbone"},
		TunnelingConfig:  &tcpproxyv3.TcpProxy_TunnelingConfig{Hostname: "%DOWNSTREAM_LOCAL_ADDRESS%"}})
	hbone := staticCluster("hbone", ipEndpoint("10.0.0.9", 15008))
	utc := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{"h2"}}}
	if clientCert != "" {
		utc.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: clientCert}}
	}
	hbone.TransportSocket = &corev3.TransportSocket{Name: "tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(utc)}}
	client := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("c", nil, tunnel))}, Clusters: []*clusterv3.Cluster{hbone}}

	hcm := &hcmv3.HttpConnectionManager{StatPrefix: "t", RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{Name: "rc", VirtualHosts: vhosts}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: "sfs", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: xds.MustAny(&sfshttpv3.Config{OnRequestHeaders: []*sfsvaluev3.FilterStateValue{{
				Key: &sfsvaluev3.FilterStateValue_ObjectKey{ObjectKey: filterStateOriginalDstAddress},
				Value: &sfsvaluev3.FilterStateValue_FormatString{FormatString: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormatSource{
					TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "%REQ(:AUTHORITY)%"}}}}}}}})}},
			{Name: "router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: xds.MustAny(&routerv3.Router{})}},
		}}
	dtc := &tlsv3.DownstreamTlsContext{RequireClientCertificate: wrapperspb.Bool(true), CommonTlsContext: &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"}, TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "server"}}}}
	term := namedChain("terminate", nil, xds.NetworkFilter("envoy.filters.network.http_connection_manager", hcm))
	term.TransportSocket = &corev3.TransportSocket{Name: "tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(dtc)}}
	server := &plugin.Proxy{ID: "q", Listeners: []*listenerv3.Listener{portListener("hbone", 15008, term)}, Clusters: []*clusterv3.Cluster{originalDstCluster("deliver")}}
	return []*plugin.Proxy{client, server}
}

func connectRouteTo(name, cluster string) *routev3.Route {
	return &routev3.Route{Name: name, Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
			UpgradeConfigs: []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "CONNECT", ConnectConfig: &routev3.RouteAction_UpgradeConfig_ConnectConfig{}}}}}}
}

func TestConnect_TunnelTerminatedAndDeliveredToAuthority(t *testing.T) {
	ps := hboneProxies("spiffe://td/ns/a/sa/b", []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*routev3.Route{connectRouteTo("connect", "deliver")}}})
	r := simulate(t, net1, "10.0.0.1:40000", "10.0.0.5:8080", nil, ps...)
	tun := wantHop(t, r, StepTunnel, "10.0.0.9:15008")
	if !strings.Contains(tun.Detail, "CONNECT 10.0.0.5:8080") || !strings.Contains(tun.Detail, "mTLS as spiffe://td/ns/a/sa/b") {
		t.Fatalf("tunnel hop %q", tun.Detail)
	}
	if r.Outcome != Delivered || r.Destination != "10.0.0.5:8080" {
		t.Fatalf("got %s %s (%s)", r.Outcome, r.Destination, r.Reason)
	}
}

func TestConnect_ClientCertificateRequired(t *testing.T) {
	ps := hboneProxies("", []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*routev3.Route{connectRouteTo("connect", "deliver")}}})
	r := simulate(t, net1, "10.0.0.1:40000", "10.0.0.5:8080", nil, ps...)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, "requires a client certificate") {
		t.Fatalf("got %s %q", r.Outcome, r.Reason)
	}
}

func TestConnect_VirtualHostDomainSearchOrder(t *testing.T) {
	vhs := []*routev3.VirtualHost{
		{Name: "star", Domains: []string{"*"}},
		{Name: "prefix-short", Domains: []string{"10.0.0.5*"}},
		{Name: "prefix-long", Domains: []string{"10.0.0.5:*"}},
		{Name: "suffix", Domains: []string{"*:8080"}},
		{Name: "exact", Domains: []string{"10.0.0.5:8080"}},
	}
	cases := map[string]string{"10.0.0.5:8080": "exact", "10.0.0.6:8080": "suffix", "10.0.0.5:9090": "prefix-long", "10.9.9.9:1": "star"}
	for authority, want := range cases {
		vh, _ := selectVirtualHost(vhs, authority)
		if vh.GetName() != want {
			t.Errorf(":authority %s: got virtual host %s, want %s (exact, suffix wildcard, prefix wildcard longest first, then *)", authority, vh.GetName(), want)
		}
	}
}

func TestConnect_OnlyConnectMatcherRoutesMatchConnect(t *testing.T) {
	prefix := &routev3.Route{Name: "prefix", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "deliver"}}}}
	ps := hboneProxies("id", []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*routev3.Route{prefix}}})
	r := simulate(t, net1, "10.0.0.1:40000", "10.0.0.5:8080", nil, ps...)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, "no route matches the CONNECT") {
		t.Fatalf("got %s %q", r.Outcome, r.Reason)
	}
}

// dubboChain is a generic_proxy with the Dubbo codec and the given routes.
func dubboChain(routes *xdsmatcher.Matcher) *listenerv3.Filter {
	return xds.NetworkFilter("envoy.filters.network.generic_proxy", &genericv3.GenericProxy{StatPrefix: "dubbo",
		CodecConfig:    xds.TypedConfig("envoy.generic_proxy.codecs.dubbo", &dubbocodecv3.DubboCodecConfig{}),
		RouteSpecifier: &genericv3.GenericProxy_RouteConfig{RouteConfig: &genericv3.RouteConfiguration{Name: "r", Routes: routes}},
		Filters:        []*corev3.TypedExtensionConfig{xds.TypedConfig("envoy.filters.generic.router", &gprouterv3.Router{})}})
}

func gpRoute(name string, ra *gpactionv3.RouteAction) *xdsmatcher.Matcher_OnMatch {
	ra.Name = name
	return &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{Action: xds.MatcherConfig("route", ra)}}
}

func TestGenericProxy_RoutesOnServiceMethodAndProperty(t *testing.T) {
	and := func(ps ...*xdsmatcher.Matcher_MatcherList_Predicate) *xdsmatcher.Matcher_MatcherList_Predicate {
		return &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_AndMatcher{AndMatcher: &xdsmatcher.Matcher_MatcherList_Predicate_PredicateList{Predicate: ps}}}
	}
	to := func(c string) *gpactionv3.RouteAction {
		return &gpactionv3.RouteAction{ClusterSpecifier: &gpactionv3.RouteAction_Cluster{Cluster: c}}
	}
	routes := &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherList_{MatcherList: &xdsmatcher.Matcher_MatcherList{Matchers: []*xdsmatcher.Matcher_MatcherList_FieldMatcher{
		{Predicate: and(valuePred(input(&gpmatcherv3.ServiceMatchInput{}), "org.demo.Greeter"), valuePred(input(&gpmatcherv3.MethodMatchInput{}), "sayHello"),
			valuePred(input(&gpmatcherv3.PropertyMatchInput{PropertyName: "env"}), "canary")), OnMatch: gpRoute("canary", to("canary"))},
		{Predicate: valuePred(input(&gpmatcherv3.MethodMatchInput{}), "sayHello"), OnMatch: gpRoute("hello", to("hello"))},
	}}}, OnNoMatch: gpRoute("default", to("default"))}
	p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("dubbo", nil, dubboChain(routes)))},
		Clusters: []*clusterv3.Cluster{staticCluster("canary", ipEndpoint("10.0.0.1", 1)), staticCluster("hello", ipEndpoint("10.0.0.2", 1)), staticCluster("default", ipEndpoint("10.0.0.3", 1))}}
	cases := []struct {
		attrs map[string]string
		want  string
	}{
		{map[string]string{"interface": "org.demo.Greeter", "method": "sayHello", "env": "canary"}, "canary"},
		{map[string]string{"interface": "org.demo.Greeter", "method": "sayHello"}, "hello"},
		{map[string]string{"method": "sayBye"}, "default"},
	}
	for _, tc := range cases {
		r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", tc.attrs, p)
		wantHop(t, r, StepRoute, tc.want)
	}
}

// TestGenericProxy_WeightedRouteEndsInClusterNotFound follows Envoy, not
// the intent: RouteEntryImpl reads route_action.cluster() only
// (generic_proxy/route_impl.cc), so a weighted route has cluster "" and
// the router replies cluster_not_found (generic_proxy/router/router.cc).
func TestGenericProxy_WeightedRouteEndsInClusterNotFound(t *testing.T) {
	ra := &gpactionv3.RouteAction{ClusterSpecifier: &gpactionv3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
		{Name: "v1", Weight: wrapperspb.UInt32(90)}, {Name: "v2", Weight: wrapperspb.UInt32(10)}}}}}
	routes := &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherList_{MatcherList: &xdsmatcher.Matcher_MatcherList{Matchers: []*xdsmatcher.Matcher_MatcherList_FieldMatcher{
		{Predicate: valuePred(input(&gpmatcherv3.MethodMatchInput{}), "sayHello"), OnMatch: gpRoute("split", ra)}}}}}
	p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("dubbo", nil, dubboChain(routes)))},
		Clusters: []*clusterv3.Cluster{staticCluster("v1", ipEndpoint("10.0.0.1", 1)), staticCluster("v2", ipEndpoint("10.0.0.2", 1))}}
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"method": "sayHello"}, p)
	h := wantHop(t, r, StepRoute, "split")
	if !strings.Contains(h.Detail, "which generic_proxy does not implement") || r.Outcome != Stopped || !strings.Contains(r.Reason, `no cluster "" on proxy p`) || !strings.Contains(r.Reason, "cluster_not_found") {
		t.Fatalf("route hop %q; outcome %s %q, want cluster_not_found", h.Detail, r.Outcome, r.Reason)
	}
	if r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"method": "other"}, p); r.Outcome != Stopped || !strings.Contains(r.Reason, "no route matches") {
		t.Fatalf("unmatched call: %s %q", r.Outcome, r.Reason)
	}
}

// TestGenericProxy_RouteTimeouts: the router arms a timer for a positive
// timeout only (router.cc); without one Envoy's 15 s default applies
// (route_impl.cc, DEFAULT_ROUTE_TIMEOUT_MS).
func TestGenericProxy_RouteTimeouts(t *testing.T) {
	for _, c := range []struct {
		timeout *durationpb.Duration
		want    string
	}{{nil, "Envoy's default of 15s applies"}, {durationpb.New(0), "timeout 0s: none"}, {durationpb.New(3 * time.Second), "timeout 3s"}} {
		ra := &gpactionv3.RouteAction{ClusterSpecifier: &gpactionv3.RouteAction_Cluster{Cluster: "v1"}, Timeout: c.timeout}
		p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("dubbo", nil, dubboChain(&xdsmatcher.Matcher{OnNoMatch: gpRoute("all", ra)})))},
			Clusters: []*clusterv3.Cluster{staticCluster("v1", ipEndpoint("10.0.0.1", 1))}}
		r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:20880", map[string]string{"method": "m"}, p)
		if h := wantHop(t, r, StepRoute, "all"); !strings.Contains(h.Detail, c.want) {
			t.Errorf("timeout %v: hop %q lacks %q", c.timeout, h.Detail, c.want)
		}
	}
}

func TestRBAC_DenyAllStopsTheCall(t *testing.T) {
	deny := xds.NetworkFilter("envoy.filters.network.rbac", &rbacv3.RBAC{StatPrefix: "deny", Rules: &rbacconfigv3.RBAC{Action: rbacconfigv3.RBAC_DENY,
		Policies: map[string]*rbacconfigv3.Policy{"all": {Permissions: []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}},
			Principals: []*rbacconfigv3.Principal{{Identifier: &rbacconfigv3.Principal_Any{Any: true}}}}}}})
	p := &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("c", nil, deny, tcp("x")))}}
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, "denied") {
		t.Fatalf("got %s %q", r.Outcome, r.Reason)
	}
}

func TestStop_NoFilterChainSaysWhy(t *testing.T) {
	l := portListener("outbound", 15001, namedChain("only-81", &listenerv3.FilterChainMatch{DestinationPort: port(81)}, tcp("x")))
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, &plugin.Proxy{ID: "p", Listeners: []*listenerv3.Listener{l}})
	if r.Outcome != Stopped || !strings.Contains(r.Reason, "no filter chain of listener outbound matches") {
		t.Fatalf("got %s %q", r.Outcome, r.Reason)
	}
}

func TestStop_RoutingLoopEnds(t *testing.T) {
	p := &plugin.Proxy{ID: "p",
		Listeners: []*listenerv3.Listener{portListener("outbound", 15001, namedChain("c", nil, tcp("loop"))), internalListener("inner", namedChain("i", nil, tcp("loop")))},
		Clusters:  []*clusterv3.Cluster{staticCluster("loop", internalEndpoint("inner", "", nil))}}
	r := simulate(t, net1, "10.0.0.1:40000", "10.9.9.9:80", nil, p)
	if r.Outcome != Stopped || !strings.Contains(r.Reason, "loops") {
		t.Fatalf("got %s %q", r.Outcome, r.Reason)
	}
}
