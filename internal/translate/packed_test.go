package translate_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	redisv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// TestPackedFiltersGiveTheSameOutput: a plugin packing its filters
// through its build context (whose messages the gates read instead of
// decoding them) gets the output, the verdicts and their wording it gets
// packing them itself: an invalid filter refused with the same message,
// a credential found (the EnvoyFilter kept off plaintext), a valid filter
// served with the same bytes.
func TestPackedFiltersGiveTheSameOutput(t *testing.T) {
	filters := func(ctx *plugin.BuildContext, pack func(string, proto.Message) *listenerv3.Filter) []*listenerv3.Filter {
		cluster := ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")
		switch ctx.Service.Hostname {
		case "a.ns.svc.cluster.local": // a virtual host without domains
			return []*listenerv3.Filter{pack("envoy.filters.network.http_connection_manager", &hcmv3.HttpConnectionManager{StatPrefix: "x",
				RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "v"}}}}})}
		case "b.ns.svc.cluster.local":
			return []*listenerv3.Filter{pack("envoy.filters.network.redis_proxy", &redisv3.RedisProxy{StatPrefix: "r", Settings: &redisv3.RedisProxy_ConnPoolSettings{OpTimeout: durationpb.New(time.Second)},
				DownstreamAuthPasswords: []*corev3.DataSource{{Specifier: &corev3.DataSource_InlineString{InlineString: "hunter2"}}},
				PrefixRoutes:            &redisv3.RedisProxy_PrefixRoutes{CatchAllRoute: &redisv3.RedisProxy_PrefixRoutes_Route{Cluster: cluster}}})}
		}
		return []*listenerv3.Filter{pack("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{StatPrefix: "x", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: cluster}})}
	}
	run := func(packed bool) string {
		tr := newTranslator(t, &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
			if packed {
				return filters(ctx, ctx.NetworkFilter), nil
			}
			return filters(ctx, xds.NetworkFilter), nil
		}})
		out := tr.Translate(snapshot(t, mesh, dubboServiceDocs("c", "ns", "10.0.0.3", "sayHello")))
		s := ""
		for _, d := range out.Diagnostics {
			s += d.String() + "\n"
		}
		for _, u := range out.Units {
			s += fmt.Sprintf("unit %s %s failed-closed=%v\n", u.Key, u.Revision, u.FailedClosed)
		}
		for _, ef := range out.EnvoyFilters {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ef.Spec())
			if err != nil {
				t.Fatal(err)
			}
			s += fmt.Sprintf("envoyfilter %s/%s secret=%v %x\n", ef.Namespace, ef.Name, ef.Secret, b)
		}
		return s
	}
	want, got := run(false), run(true)
	if got != want {
		t.Errorf("packed through the context:\n%s\npacked by the plugin:\n%s", got, want)
	}
	for _, frag := range []string{"Domains", "secret=true", "failed-closed=true"} {
		if !strings.Contains(want, frag) {
			t.Errorf("the output does not show %q, which the test is about:\n%s", frag, want)
		}
	}
}
