package waypoint

import (
	"fmt"
	"net"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	internallistenerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/bootstrap/internal_listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpoptsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Names and ports of the generated bootstrap.
const (
	// XDSCluster is the static cluster of aeraki's TLS ADS address.
	XDSCluster = "xds-grpc"
	// SDSCluster is the static cluster of the agent's socket; the name
	// plugins/hbone's config fetches secrets from (hbone.SDSCluster).
	SDSCluster = "sds-grpc"
	// RootCASecret is the trust bundle's SDS name (hbone.SecretRootCA).
	RootCASecret = "ROOTCA"
	// AdminPort is Envoy's admin interface, on loopback only.
	AdminPort = 15000
	// StatusPort serves /healthz/ready (Envoy's /ready: 200 once the
	// first config from aeraki is in), the port Istio's waypoints use.
	StatusPort = 15021
	// HBONEPort is where the waypoint terminates HBONE.
	HBONEPort = 15008
	// RE2RuntimeKey is the layered runtime key raising RE2's program size
	// limit, set as Istio's bootstrap sets it (docs/ambient.md).
	RE2RuntimeKey = "re2.max_program_size.error_level"
)

// BootstrapOptions say what one waypoint's bootstrap points at.
type BootstrapOptions struct {
	// NodeID is the Envoy node id aeraki recognises: waypoint/<ns>/<name>.
	NodeID string
	// Cluster is the node's cluster (service cluster), <name>.<ns>.
	Cluster string
	// XDSAddress is aeraki's TLS address, host:port (15012).
	XDSAddress string
	// XDSIdentity is the SPIFFE id aeraki's certificate must carry
	// (aeraki's identity from Istio's CA).
	XDSIdentity string
	// Identity is the waypoint's SPIFFE id: the SDS secret its client
	// certificate is.
	Identity string
	// SDSSocket is the agent's Unix socket.
	SDSSocket string
	// RegexMaxProgramSize is the RE2 limit set in the runtime (aeraki's
	// --regex-max-program-size).
	RegexMaxProgramSize int
}

// Bootstrap is the Envoy bootstrap of a waypoint aeraki serves: ADS to
// aeraki over TLS with the waypoint's certificate (from the agent over
// SDS) checked by aeraki against the mesh root, aeraki's certificate
// checked against ROOTCA and aeraki's SPIFFE id; the internal listener
// bootstrap extension the waypoint's internal listeners need; the RE2
// runtime key; Envoy's admin on loopback and /healthz/ready on
// StatusPort.
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("waypoint bootstrap: aeraki's address %q: %w", o.XDSAddress, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("waypoint bootstrap: aeraki's address %q: %w", o.XDSAddress, err)
	}
	if o.NodeID == "" || o.Identity == "" || o.XDSIdentity == "" || o.SDSSocket == "" {
		return nil, fmt.Errorf("waypoint bootstrap: the node id, the waypoint's and aeraki's identities and the SDS socket are required")
	}
	sds := &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType: corev3.ApiConfigSource_GRPC, TransportApiVersion: corev3.ApiVersion_V3, SetNodeOnFirstMessageOnly: true,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: SDSCluster}}}},
		}},
	}
	ads := &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	xdsTLS := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		AlpnProtocols:                  []string{"h2"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: o.Identity, SdsConfig: sds}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o.XDSIdentity}},
			}}},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: RootCASecret, SdsConfig: sds},
		}},
	}}
	regex := o.RegexMaxProgramSize
	if regex <= 0 {
		regex = 32768
	}
	runtime, err := structpb.NewStruct(map[string]any{RE2RuntimeKey: regex})
	if err != nil {
		return nil, err
	}
	status, err := statusListener()
	if err != nil {
		return nil, err
	}
	return &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: o.NodeID, Cluster: o.Cluster},
		Admin: &bootstrapv3.Admin{Address: socketAddress("127.0.0.1", AdminPort)},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType: corev3.ApiConfigSource_GRPC, TransportApiVersion: corev3.ApiVersion_V3, SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSCluster}}}},
			},
			LdsConfig: ads,
			CdsConfig: ads,
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: []*listenerv3.Listener{status},
			Clusters: []*clusterv3.Cluster{
				{
					Name:                          XDSCluster,
					ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
					ConnectTimeout:                durationpb.New(10 * time.Second),
					LoadAssignment:                endpoints(XDSCluster, socketAddress(host, uint32(port))),
					TypedExtensionProtocolOptions: http2(),
					TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
						ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(xdsTLS)}},
				},
				{
					Name:                          SDSCluster,
					ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
					ConnectTimeout:                durationpb.New(time.Second),
					LoadAssignment:                endpoints(SDSCluster, &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: o.SDSSocket}}}),
					TypedExtensionProtocolOptions: http2(),
				},
				{
					Name:                 "admin",
					ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
					ConnectTimeout:       durationpb.New(time.Second),
					LoadAssignment:       endpoints("admin", socketAddress("127.0.0.1", AdminPort)),
				},
			},
		},
		BootstrapExtensions: []*corev3.TypedExtensionConfig{{
			Name:        "envoy.bootstrap.internal_listener",
			TypedConfig: xds.MustAny(&internallistenerv3.InternalListener{}),
		}},
		LayeredRuntime: &bootstrapv3.LayeredRuntime{Layers: []*bootstrapv3.RuntimeLayer{{
			Name:           "aeraki",
			LayerSpecifier: &bootstrapv3.RuntimeLayer_StaticLayer{StaticLayer: runtime},
		}}},
	}, nil
}

// BootstrapJSON is b as Envoy's --config-yaml takes it (JSON is YAML).
func BootstrapJSON(b *bootstrapv3.Bootstrap) (string, error) {
	out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("waypoint bootstrap: %w", err)
	}
	return string(out), nil
}

// statusListener answers /healthz/ready on StatusPort with Envoy's own
// /ready (200 once the server is LIVE, after the first ADS config).
func statusListener() (*listenerv3.Listener, error) {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: "status",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "status",
			VirtualHosts: []*routev3.VirtualHost{{Name: "status", Domains: []string{"*"}, Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/healthz/ready"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "admin"},
					PrefixRewrite:    "/ready",
				}},
			}}}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: xds.MustAny(&routerv3.Router{})}}},
	}
	a, err := anypb.New(hcm)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:    "status",
		Address: socketAddress("0.0.0.0", StatusPort),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a},
		}}}},
	}, nil
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func endpoints(cluster string, addr *corev3.Address) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: cluster, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}}}},
	}}}
}

// http2 makes a cluster speak HTTP/2, which gRPC needs.
func http2() map[string]*anypb.Any {
	return map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": xds.MustAny(&httpoptsv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpoptsv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpoptsv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpoptsv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	})}
}
