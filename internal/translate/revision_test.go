package translate

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Two configs that differ only in bytes that are not valid UTF-8 (here a
// port whose varint encoding is 0x95 0x84 0x02 vs 0xa3 0xd3 0x02) must get
// different revisions, or the change is never served.
func TestRevisionSeesEveryByte(t *testing.T) {
	proxy := func(port uint32) *plugin.Proxy {
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}}}}}
		return &plugin.Proxy{ID: "p", Clusters: []*clusterv3.Cluster{{Name: "c"}}, Endpoints: []*endpointv3.ClusterLoadAssignment{cla}}
	}
	if a, b := proxyRevision(proxy(33301)), proxyRevision(proxy(43427)); a == b {
		t.Fatalf("ports 33301 and 43427 give the same proxy revision %s", a)
	}
	if a, b := proxyRevision(proxy(33301)), proxyRevision(proxy(33301)); a != b {
		t.Fatalf("the same proxy gives revisions %s and %s", a, b)
	}
}

// Configs that do not marshal (a string that is not valid UTF-8) still get
// revisions that tell them apart and repeat for equal input. Marshal stops
// at the bad field, so hashing its output gave every config that differs
// only after that field one revision: the change was never served.
func TestRevisionOfUnmarshalableConfig(t *testing.T) {
	proxy := func(stat string) *plugin.Proxy {
		return &plugin.Proxy{ID: "p", Clusters: []*clusterv3.Cluster{{Name: "c-\xff", AltStatName: stat}}}
	}
	a, b := proxyRevision(proxy("a")), proxyRevision(proxy("b"))
	if a == b {
		t.Fatalf("clusters that differ after an invalid name give the same revision %s", a)
	}
	if again := proxyRevision(proxy("a")); again != a {
		t.Fatalf("the same config gives revisions %s and %s", a, again)
	}
}
