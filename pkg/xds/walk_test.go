package xds_test

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// TestWalkSeesThroughAny: the tcp_proxy packed in a filter chain's
// typed_config is visited, the Any wrapping it is not.
func TestWalkSeesThroughAny(t *testing.T) {
	l := &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{
		xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}),
	}}}}
	var seen []string
	xds.Walk(l, func(m protoreflect.Message) { seen = append(seen, string(m.Descriptor().Name())) })
	want := []string{"Listener", "FilterChain", "Filter", "TcpProxy"}
	if len(seen) != len(want) {
		t.Fatalf("visited %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("visited %v, want %v", seen, want)
		}
	}
}
