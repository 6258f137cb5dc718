package trace

import (
	"net/netip"
	"strings"
	"testing"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	sfsnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/set_filter_state/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	networkinputv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	internalupstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// This file builds the small hand-made configs the rule tests run on.

// fakeNetwork sends every source to one proxy's port and knows which
// addresses belong to which proxy.
type fakeNetwork struct {
	outboundProxy string
	outboundPort  uint32
	owners        map[string]string // ip -> proxy
}

func (n *fakeNetwork) Outbound(netip.Addr) (string, uint32) { return n.outboundProxy, n.outboundPort }
func (n *fakeNetwork) Owner(ip netip.Addr) string           { return n.owners[ip.String()] }
func (n *fakeNetwork) InboundPlaintextPort(string) uint32   { return 0 }
func (n *fakeNetwork) Recaptured(string, string) bool       { return false }
func (n *fakeNetwork) Name(ip netip.Addr) string            { return "test address " + ip.String() }

// simulate runs a call from src to dst through proxies.
func simulate(t *testing.T, net *fakeNetwork, src, dst string, attrs map[string]string, proxies ...*plugin.Proxy) *Result {
	t.Helper()
	m := map[string]*plugin.Proxy{}
	for _, p := range proxies {
		m[p.ID] = p
	}
	s := &Simulator{Proxies: m, Network: net}
	return s.Run(Call{Source: netip.MustParseAddrPort(src), Destination: netip.MustParseAddrPort(dst), Attributes: attrs})
}

func tcp(cluster string) *listenerv3.Filter {
	return xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpproxyv3.TcpProxy{StatPrefix: cluster, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}})
}

func namedChain(name string, m *listenerv3.FilterChainMatch, filters ...*listenerv3.Filter) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{Name: name, FilterChainMatch: m, Filters: filters}
}

func port(p uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(p) }

func cidrs(prefixes ...string) []*corev3.CidrRange {
	var out []*corev3.CidrRange
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		out = append(out, &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
	}
	return out
}

func xcidrs(prefixes ...string) []*xdscore.CidrRange {
	var out []*xdscore.CidrRange
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		out = append(out, &xdscore.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
	}
	return out
}

func originalDstFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: "envoy.filters.listener.original_dst", ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: xds.MustAny(&originaldstv3.OriginalDst{})}}
}

func portListener(name string, p uint32, chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name, Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: p}}}},
		ListenerFilters: []*listenerv3.ListenerFilter{originalDstFilter()}, FilterChains: chains}
}

func internalListener(name string, chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name, ListenerSpecifier: &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}},
		ListenerFilters: []*listenerv3.ListenerFilter{originalDstFilter()}, FilterChains: chains}
}

func originalDstCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}, LbPolicy: clusterv3.Cluster_CLUSTER_PROVIDED}
}

func staticCluster(name string, eps ...*endpointv3.LbEndpoint) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: eps}}}}
}

func ipEndpoint(ip string, p uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
		Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: p}}}}}}}
}

func internalEndpoint(listener, id string, md map[string]string) *endpointv3.LbEndpoint {
	ep := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
		Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
			AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: listener}, EndpointId: id}}}}}}
	if md != nil {
		fields := map[string]*structpb.Value{}
		for k, v := range md {
			fields[k] = structpb.NewStringValue(v)
		}
		ep.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{originalDstNamespace: {Fields: fields}}}
	}
	return ep
}

// withPassthrough gives a cluster the internal_upstream transport socket
// passing the original_dst metadata through.
func withPassthrough(c *clusterv3.Cluster) *clusterv3.Cluster {
	c.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.internal_upstream", ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: xds.MustAny(&internalupstreamv3.InternalUpstreamTransport{PassthroughMetadata: []*internalupstreamv3.InternalUpstreamTransport_MetadataValueSource{{
			Kind: &metadatav3.MetadataKind{Kind: &metadatav3.MetadataKind_Host_{Host: &metadatav3.MetadataKind_Host{}}}, Name: originalDstNamespace,
		}}}),
	}}
	return c
}

func setState(shared sfsvaluev3.FilterStateValue_SharedWithUpstream, kv ...string) *listenerv3.Filter {
	var values []*sfsvaluev3.FilterStateValue
	for i := 0; i+1 < len(kv); i += 2 {
		values = append(values, &sfsvaluev3.FilterStateValue{
			Key: &sfsvaluev3.FilterStateValue_ObjectKey{ObjectKey: kv[i]},
			Value: &sfsvaluev3.FilterStateValue_FormatString{FormatString: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormatSource{
				TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: kv[i+1]}}}}},
			SharedWithUpstream: shared,
		})
	}
	return xds.NetworkFilter("envoy.filters.network.set_filter_state", &sfsnetworkv3.Config{OnNewConnection: values})
}

// Matcher helpers.
func input(m proto.Message) *xdscore.TypedExtensionConfig { return xds.MatcherConfig("", m) }

var (
	dstIP   = input(&networkinputv3.DestinationIPInput{})
	dstPort = input(&networkinputv3.DestinationPortInput{})
	srcIP   = input(&networkinputv3.SourceIPInput{})
)

func action(name string) *xdsmatcher.Matcher_OnMatch {
	return &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{Action: xds.MatcherConfig(name, wrapperspb.String(name))}}
}

func nested(m *xdsmatcher.Matcher) *xdsmatcher.Matcher_OnMatch {
	return &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Matcher{Matcher: m}}
}

func exactMap(in *xdscore.TypedExtensionConfig, m map[string]*xdsmatcher.Matcher_OnMatch, onNoMatch *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher {
	return &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherTree_{MatcherTree: &xdsmatcher.Matcher_MatcherTree{Input: in,
		TreeType: &xdsmatcher.Matcher_MatcherTree_ExactMatchMap{ExactMatchMap: &xdsmatcher.Matcher_MatcherTree_MatchMap{Map: m}}}}, OnNoMatch: onNoMatch}
}

func prefixMap(in *xdscore.TypedExtensionConfig, m map[string]*xdsmatcher.Matcher_OnMatch, onNoMatch *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher {
	return &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherTree_{MatcherTree: &xdsmatcher.Matcher_MatcherTree{Input: in,
		TreeType: &xdsmatcher.Matcher_MatcherTree_PrefixMatchMap{PrefixMatchMap: &xdsmatcher.Matcher_MatcherTree_MatchMap{Map: m}}}}, OnNoMatch: onNoMatch}
}

type rangeMatcher struct {
	prefixes  []string
	onMatch   *xdsmatcher.Matcher_OnMatch
	exclusive bool
}

func ipTree(in *xdscore.TypedExtensionConfig, rms []rangeMatcher, onNoMatch *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher {
	ipm := &xdsmatcher.IPMatcher{}
	for _, rm := range rms {
		ipm.RangeMatchers = append(ipm.RangeMatchers, &xdsmatcher.IPMatcher_IPRangeMatcher{Ranges: xcidrs(rm.prefixes...), OnMatch: rm.onMatch, Exclusive: rm.exclusive})
	}
	return &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherTree_{MatcherTree: &xdsmatcher.Matcher_MatcherTree{Input: in,
		TreeType: &xdsmatcher.Matcher_MatcherTree_CustomMatch{CustomMatch: xds.MatcherConfig("ip", ipm)}}}, OnNoMatch: onNoMatch}
}

// matchAction evaluates m on conn c and returns the chain name chosen ("" for none).
func matchAction(t *testing.T, m *xdsmatcher.Matcher, c *conn) string {
	t.Helper()
	var trail matchTrail
	a, err := evalMatcher(m, networkInputs(c), &trail)
	if err != nil {
		t.Fatal(err)
	}
	if a == nil {
		return ""
	}
	name, err := chainName(a)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func connTo(src, dst string) *conn {
	return &conn{src: netip.MustParseAddrPort(src), dst: netip.MustParseAddrPort(dst), state: filterState{}}
}

// wantHop fails unless some hop of the step names name.
func wantHop(t *testing.T, r *Result, step Step, name string) Hop {
	t.Helper()
	for _, h := range r.Hops {
		if h.Step == step && h.Name == name {
			return h
		}
	}
	var b strings.Builder
	_ = r.Write(&b)
	t.Fatalf("no %s hop named %q; trace:\n%s", step, name, b.String())
	return Hop{}
}
