package plugin_test

import (
	"testing"

	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// TestStatPrefixFollowsFields checks that the remembered stat prefix
// follows the exported fields it is made of when the core (or a test)
// changes them after a first call, and that ClusterName agrees with it.
func TestStatPrefixFollowsFields(t *testing.T) {
	svc := &model.Service{Hostname: "a.ns.svc.cluster.local"}
	port := &model.Port{Number: 20880, TargetPort: 20881}
	ctx := plugin.NewBuildContext("test", nil, plugin.RoleSidecarOutbound, svc, port)
	steps := []struct {
		change func()
		want   string
	}{
		{func() {}, "outbound|20880||a.ns.svc.cluster.local"},
		{func() { ctx.Role = plugin.RoleWaypoint }, "inbound-vip|20880||a.ns.svc.cluster.local"},
		{func() { ctx.WaypointServedBy = model.ServedByIstiod }, "inbound-vip|20880|tcp|a.ns.svc.cluster.local"},
		{func() { ctx.Role = plugin.RoleSidecarInbound }, "inbound|20881||"},
		{func() { ctx.Port = &model.Port{Number: 20880, TargetPort: 9000} }, "inbound|9000||"},
		{func() {
			ctx.Role, ctx.Service = plugin.RoleSidecarOutbound, &model.Service{Hostname: "b.ns.svc.cluster.local"}
		}, "outbound|20880||b.ns.svc.cluster.local"},
	}
	for i, s := range steps {
		s.change()
		if got := ctx.StatPrefix(); got != s.want {
			t.Errorf("step %d: StatPrefix %q, want %q", i, got, s.want)
		}
		if got := ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, ""); got != s.want {
			t.Errorf("step %d: ClusterName %q, want %q", i, got, s.want)
		}
	}
	if got := ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "v1"); got != "outbound|20880|v1|b.ns.svc.cluster.local" {
		t.Errorf("subset cluster %q", got)
	}
}

// TestPackHandsTheMessageToTheCore: a filter packed through the context
// packs as xds.NetworkFilter does, and the Unpacked the core set reads the
// plugin's message back instead of decoding it; without one it only packs.
func TestPackHandsTheMessageToTheCore(t *testing.T) {
	tp := &tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}
	ctx := plugin.NewBuildContext("test", nil, plugin.RoleSidecarOutbound, &model.Service{}, &model.Port{})
	if f := ctx.NetworkFilter("envoy.filters.network.tcp_proxy", tp); !proto.Equal(f, xds.NetworkFilter("envoy.filters.network.tcp_proxy", tp)) {
		t.Errorf("without Packed: %v", f)
	}
	ctx.Packed = xds.NewUnpacked(nil)
	f := ctx.NetworkFilter("envoy.filters.network.tcp_proxy", tp)
	if !proto.Equal(f, xds.NetworkFilter("envoy.filters.network.tcp_proxy", tp)) {
		t.Errorf("with Packed: %v", f)
	}
	if m, err := ctx.Packed.Unpack(f.GetTypedConfig()); err != nil || m != tp {
		t.Errorf("the core decoded the packed filter (%v) instead of reading the plugin's message", err)
	}
}
