package translate_test

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// rcPlugin builds an invalid route table (a virtual host without
// domains); embed puts it in its filter (an http_connection_manager), as
// the built-in plugins do, else its filter is a valid tcp_proxy.
type rcPlugin struct{ embed bool }

func (p *rcPlugin) Name() string                { return "fake-rc" }
func (p *rcPlugin) Protocols() []model.Protocol { return []model.Protocol{model.ProtocolDubbo} }
func (p *rcPlugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	return &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "v"}}}, nil
}
func (p *rcPlugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	if !p.embed {
		return validFilter(ctx), nil
	}
	return []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.http_connection_manager", &hcmv3.HttpConnectionManager{StatPrefix: "x",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: ctx.RouteConfig.(*routev3.RouteConfiguration)}})}, nil
}

// TestRouteTableIsCheckedWhereItGoesOut: a sidecar unit's route table
// goes out only inside its filter, so the gates check it there (an
// invalid one embedded is refused, naming the filter) and not on its own
// (one the filter does not carry is not refused); a waypoint chain hands
// its route table to the ProxyBuilder, so there it is checked on its own.
func TestRouteTableIsCheckedWhereItGoesOut(t *testing.T) {
	roleErrors := func(out *translate.Output) map[string][]string {
		got := map[string][]string{}
		for _, d := range errorsOf(out) {
			for _, role := range []string{"sidecar-outbound", "sidecar-inbound", "waypoint"} {
				if strings.Contains(d.Message, " for "+role+" ") {
					got[role] = append(got[role], d.Message)
				}
			}
		}
		return got
	}
	for _, embed := range []bool{true, false} {
		reg, err := plugin.NewRegistry(&rcPlugin{embed: embed}, hbone.New())
		if err != nil {
			t.Fatal(err)
		}
		tr, err := translate.New(translate.Options{Registry: reg, Targets: plugin.DefaultTargets()})
		if err != nil {
			t.Fatal(err)
		}
		got := roleErrors(tr.Translate(snapshot(t, byCallerMesh)))
		for _, role := range []string{"sidecar-outbound", "sidecar-inbound", "waypoint"} {
			msgs := got[role]
			switch {
			case embed:
				if len(msgs) != 1 || !strings.Contains(msgs[0], "filter 0 (envoy.filters.network.http_connection_manager)") || !strings.Contains(msgs[0], "Domains") {
					t.Errorf("embedded invalid route table, %s: want the filter refused, got %q", role, msgs)
				}
			case role == "waypoint":
				if len(msgs) != 1 || !strings.Contains(msgs[0], "route config: ") || !strings.Contains(msgs[0], "Domains") {
					t.Errorf("waypoint chain: want its route table refused, got %q", msgs)
				}
			default:
				if len(msgs) != 0 {
					t.Errorf("route table no filter carries, %s: want no refusal, got %q", role, msgs)
				}
			}
		}
	}
}
