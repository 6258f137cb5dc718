package translate_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	ratelimitcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	netratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/ratelimit/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// gatedProxy builds one proxy whose listener calls a rate limit service
// over gRPC, with or without the cluster it names.
type gatedProxy struct{ withCluster bool }

func (gatedProxy) Name() string                          { return "gated" }
func (gatedProxy) Protocols() []model.Protocol           { return nil }
func (gatedProxy) ProxyIDs(*model.View) []string         { return []string{"p"} }
func (gatedProxy) MatchNode(*corev3.Node) (string, bool) { return "p", true }
func (g gatedProxy) BuildProxy(_ *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	rl := xds.NetworkFilter("envoy.filters.network.ratelimit", &netratelimitv3.RateLimit{
		StatPrefix: "rl", Domain: "d",
		Descriptors: []*ratelimitcommonv3.RateLimitDescriptor{{Entries: []*ratelimitcommonv3.RateLimitDescriptor_Entry{{Key: "k", Value: "v"}}}},
		RateLimitService: &ratelimitv3.RateLimitServiceConfig{TransportApiVersion: corev3.ApiVersion_V3, GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "ratelimit"}},
		}},
	})
	tcp := xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{StatPrefix: "t", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "ratelimit"}})
	p := &plugin.Proxy{ID: id, Kind: plugin.ProxyKindWaypoint, Listeners: []*listenerv3.Listener{{
		Name:         "l",
		Address:      &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 1}}}},
		FilterChains: []*listenerv3.FilterChain{{Name: "c", Filters: []*listenerv3.Filter{rl, tcp}}},
	}}}
	if g.withCluster {
		p.Clusters = []*clusterv3.Cluster{{Name: "ratelimit", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}}
	}
	return p, nil
}

// TestProxyGateRefusesUnknownGRPCCluster: Envoy rejects a listener whose
// filter calls a gRPC cluster it does not have, so such a proxy is never
// served.
func TestProxyGateRefusesUnknownGRPCCluster(t *testing.T) {
	for _, with := range []bool{true, false} {
		out := newTranslator(t, gatedProxy{withCluster: with}).Translate(snapshot(t, mesh))
		p := out.Proxies[0]
		gotErr := len(p.Diagnostics) > 0 && strings.Contains(p.Diagnostics[0].Message, `calls gRPC cluster "ratelimit", which the proxy does not have`)
		if with && (len(p.Listeners) != 1 || gotErr) {
			t.Errorf("with the cluster: proxy refused: %v", p.Diagnostics)
		}
		if !with && (!gotErr || len(p.Listeners) != 0) {
			t.Errorf("without the cluster: want the proxy refused with a clear error, got %d listeners, %v", len(p.Listeners), p.Diagnostics)
		}
	}
}
