package hbone

import (
	"net"
	"net/netip"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	sfsnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/set_filter_state/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	internalupstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Envoy's names for the extensions used here.
const (
	filterTCPProxy            = "envoy.filters.network.tcp_proxy"
	filterSetFilterState      = "envoy.filters.network.set_filter_state"
	filterHTTPSetFilterState  = "envoy.filters.http.set_filter_state"
	filterHCM                 = "envoy.filters.network.http_connection_manager"
	filterRBAC                = "envoy.filters.network.rbac"
	filterRouter              = "envoy.filters.http.router"
	listenerFilterOriginalDst = "envoy.filters.listener.original_dst"
	socketInternalUpstream    = "envoy.transport_sockets.internal_upstream"
	socketRawBuffer           = "envoy.transport_sockets.raw_buffer"
	socketTLS                 = "envoy.transport_sockets.tls"
	// formatDownstreamLocal is the restored original destination, "ip:port".
	formatDownstreamLocal = "%DOWNSTREAM_LOCAL_ADDRESS%"
	// formatDownstreamRemote is the connection's source, "ip:port".
	formatDownstreamRemote = "%DOWNSTREAM_REMOTE_ADDRESS%"
	// formatAuthority is the CONNECT request's target, "ip:port".
	formatAuthority = "%REQ(:AUTHORITY)%"
	// formatDownstreamPeerURISAN is the URI SAN (SPIFFE id) of the
	// downstream's TLS client certificate.
	formatDownstreamPeerURISAN = "%DOWNSTREAM_PEER_URI_SAN%"
	// factoryString makes set_filter_state store a plain string object,
	// which filter-state matchers (RBAC's) compare as a string.
	factoryString = "envoy.string"
)

const connectTimeout = 10 * time.Second

// originalDstListenerFilter restores the destination: from the socket on
// a real listener, from metadata or filter state on an internal one.
func originalDstListenerFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{
		Name:       listenerFilterOriginalDst,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: xds.MustAny(&originaldstv3.OriginalDst{})},
	}
}

// tcpProxy is a terminal tcp_proxy to one cluster.
func tcpProxy(statPrefix, cluster string) *listenerv3.Filter {
	return xds.NetworkFilter(filterTCPProxy, &tcpproxyv3.TcpProxy{
		StatPrefix:       statPrefix,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
	})
}

// tunnelProxy is a tcp_proxy that carries the connection in an HTTP/2
// CONNECT to cluster, whose :authority is the restored original destination.
func tunnelProxy(statPrefix, cluster string) *listenerv3.Filter {
	return xds.NetworkFilter(filterTCPProxy, &tcpproxyv3.TcpProxy{
		StatPrefix:       statPrefix,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
		TunnelingConfig:  &tcpproxyv3.TcpProxy_TunnelingConfig{Hostname: formatDownstreamLocal},
	})
}

// stateValue is one set_filter_state entry shared ONCE with the upstream
// connection: the next (internal) listener sees it, later hops do not.
// Envoy hands a ONCE object to the upstream as shared with no one
// (source/common/stream_info/filter_state_impl.cc,
// objectsSharedWithUpstreamConnection); the internal_upstream transport
// socket passes what is shared into the internal connection
// (source/extensions/transport_sockets/internal_upstream/config.cc), and
// the internal listener's accepted socket starts with it
// (source/extensions/bootstrap/internal_listener/active_internal_listener.cc,
// onAccept). So every internal listener that hands a connection on sets
// the addresses again (to_services, to_pods, the waypoint chains).
func stateValue(key, format string) *sfsvaluev3.FilterStateValue {
	return &sfsvaluev3.FilterStateValue{
		Key: &sfsvaluev3.FilterStateValue_ObjectKey{ObjectKey: key},
		Value: &sfsvaluev3.FilterStateValue_FormatString{FormatString: &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{
				Specifier: &corev3.DataSource_InlineString{InlineString: format},
			}},
		}},
		SharedWithUpstream: sfsvaluev3.FilterStateValue_ONCE,
	}
}

// setFilterState is the network set_filter_state filter, applied when a
// connection is accepted.
func setFilterState(values ...*sfsvaluev3.FilterStateValue) *listenerv3.Filter {
	return xds.NetworkFilter(filterSetFilterState, &sfsnetworkv3.Config{OnNewConnection: values})
}

// carrySource hands the source address to the next internal listener,
// whose original_dst filter restores it as the remote address.
func carrySource() *sfsvaluev3.FilterStateValue {
	return stateValue(FilterStateRemoteIP, formatDownstreamRemote)
}

// carryDestination hands the original destination to the next internal
// listener, for paths whose endpoints do not carry it in metadata.
func carryDestination() *sfsvaluev3.FilterStateValue {
	return stateValue(FilterStateLocalIP, formatDownstreamLocal)
}

// denyFilters refuse every connection: what a port whose protocol plugin
// failed gets, so traffic never skips the policy the user asked for.
func denyFilters(statPrefix string) []*listenerv3.Filter {
	rbac := &rbacv3.RBAC{
		StatPrefix: statPrefix,
		Rules: &rbacconfigv3.RBAC{
			Action: rbacconfigv3.RBAC_DENY,
			Policies: map[string]*rbacconfigv3.Policy{"fail-closed": {
				Permissions: []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}},
				Principals:  []*rbacconfigv3.Principal{{Identifier: &rbacconfigv3.Principal_Any{Any: true}}},
			}},
		},
	}
	return []*listenerv3.Filter{xds.NetworkFilter(filterRBAC, rbac), tcpProxy(statPrefix, ClusterBlackHole)}
}

// socketAddress is ip:port as an Envoy address.
func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// internalAddress names an internal listener; endpointID tells endpoints
// to the same listener apart (Envoy would merge them otherwise).
func internalAddress(listener, endpointID string) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
		AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: listener},
		EndpointId:           endpointID,
	}}}
}

// hostPort renders ip:port, bracketing IPv6. The port is printed as
// given, never narrowed to 16 bits: the model refuses ports outside
// 1..65535, and a bad one must stay visible rather than wrap around
// (151952 would become 20880).
func hostPort(ip string, port uint32) string {
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = a.String()
	}
	return net.JoinHostPort(ip, strconv.FormatUint(uint64(port), 10))
}

// originalDstMetadata is endpoint metadata for an internal endpoint: the
// destination the next listener restores, and optionally the waypoint the
// tunnel goes to instead.
func originalDstMetadata(local, waypoint string) *corev3.Metadata {
	fields := map[string]*structpb.Value{}
	if local != "" {
		fields[MetadataFieldLocal] = structpb.NewStringValue(local)
	}
	if waypoint != "" {
		fields[MetadataFieldWaypoint] = structpb.NewStringValue(waypoint)
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataOriginalDst: {Fields: fields}}}
}

// internalEndpoint is an endpoint on an internal listener carrying its
// HBONE (or plaintext) target in metadata.
func internalEndpoint(listener, local, waypoint string, healthy bool) *endpointv3.LbEndpoint {
	id := local
	if id == "" {
		id = waypoint
	}
	ep := &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: internalAddress(listener, id)}},
		Metadata:       originalDstMetadata(local, waypoint),
	}
	if !healthy {
		ep.HealthStatus = corev3.HealthStatus_UNHEALTHY
	}
	return ep
}

// rawBuffer is the plaintext transport socket.
func rawBuffer() *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: socketRawBuffer, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(&rawbufferv3.RawBuffer{})}}
}

// internalUpstream is the transport socket of clusters whose endpoints are
// internal listeners: it copies the endpoint's original_dst metadata into
// the internal connection, where the original_dst listener filter and
// ORIGINAL_DST clusters read it.
func internalUpstream() *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: socketInternalUpstream, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(&internalupstreamv3.InternalUpstreamTransport{
		PassthroughMetadata: []*internalupstreamv3.InternalUpstreamTransport_MetadataValueSource{{
			Kind: &metadatav3.MetadataKind{Kind: &metadatav3.MetadataKind_Host_{Host: &metadatav3.MetadataKind_Host{}}},
			Name: MetadataOriginalDst,
		}},
		TransportSocket: rawBuffer(),
	})}}
}

// staticInternalCluster is a cluster with inline internal endpoints.
func staticInternalCluster(name string, endpoints []*endpointv3.LbEndpoint) *clusterv3.Cluster {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	if len(endpoints) > 0 {
		cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: endpoints}}
	}
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LoadAssignment:       cla,
		TransportSocket:      internalUpstream(),
	}
}

// listenerCluster is a cluster whose single endpoint is an internal listener.
func listenerCluster(name, listener string) *clusterv3.Cluster {
	return staticInternalCluster(name, []*endpointv3.LbEndpoint{{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: internalAddress(listener, "")}},
	}})
}

// edsInternalCluster is a cluster whose internal endpoints come over EDS,
// so an endpoint change does not resend the cluster.
func edsInternalCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{
			ResourceApiVersion:    corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		}},
		ConnectTimeout:  durationpb.New(connectTimeout),
		TransportSocket: internalUpstream(),
	}
}

// originalDstCluster connects to the connection's original destination.
func originalDstCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(connectTimeout),
	}
}

// blackHoleCluster has no endpoints.
func blackHoleCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 ClusterBlackHole,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LoadAssignment:       &endpointv3.ClusterLoadAssignment{ClusterName: ClusterBlackHole},
	}
}

// chain is a named filter chain.
func chain(name string, filters ...*listenerv3.Filter) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{Name: name, Filters: filters}
}

// internalListener is a listener reachable only through internal addresses.
func internalListener(name string, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:              name,
		ListenerSpecifier: &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}},
		ListenerFilters:   []*listenerv3.ListenerFilter{originalDstListenerFilter()},
		FilterChains:      chains,
	}
}

// portListener is a listener bound to 0.0.0.0:port that restores the
// original destination of redirected connections.
func portListener(name string, port uint32, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:            name,
		Address:         socketAddress("0.0.0.0", port),
		ListenerFilters: []*listenerv3.ListenerFilter{originalDstListenerFilter()},
		FilterChains:    chains,
	}
}
