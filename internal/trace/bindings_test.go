package trace_test

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/trace"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// Binding edge cases, on the HBONE plugin's golden input.

func renderBindings(t *testing.T) *render.Result {
	t.Helper()
	d, _ := dubbo.New(dubbo.Options{})
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(render.Options{Paths: []string{"../../plugins/hbone/testdata/in/bindings.yaml"}, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBindings_WorkloadWaypointReachedThroughItsServiceAddress(t *testing.T) {
	r := call(t, renderBindings(t), "outside/opted-in", "10.2.0.40:9000", nil)
	if r.Outcome != trace.Delivered || r.Destination != "10.2.0.40:9000" {
		t.Fatalf("%s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
	if got := strings.Join(path(r), " -> "); got != "ztunnel/node-1 -> waypoint/shared/all-wp -> ztunnel/node-2" {
		t.Fatalf("path %s\n%s", got, dump(r))
	}
	if c := r.Find(trace.StepChain, "waypoint/shared/all-wp"); c[len(c)-2].Name != hbone.ChainDirectTCP {
		t.Fatalf("waypoint chains %+v", c)
	}
	// A pod address is no service's: ztunnel_outbound hands it to
	// ztunnel_outbound_services, which hands it to ztunnel_outbound_pods,
	// which hands it to the shard of its /24, which sends it to the pod's
	// waypoint.
	if got := names(r.Find(trace.StepListener, "ztunnel/node-1")); got != "ztunnel_outbound ztunnel_outbound_services ztunnel_outbound_pods ztunnel_outbound_pods|10.2.0.0/24 connect_originate" {
		t.Fatalf("ztunnel/node-1 listeners %s\n%s", got, dump(r))
	}
	if got := names(r.Find(trace.StepChain, "ztunnel/node-1")); !strings.HasPrefix(got, hbone.ChainToServices+" "+hbone.ChainToPods+" ztunnel_outbound_pods|10.2.0.0/24 to-waypoint|shared/all-wp ") {
		t.Fatalf("ztunnel/node-1 chains %s\n%s", got, dump(r))
	}
}

// An address outside the mesh, from a mesh pod, is no service's and in
// no pod shard: it passes through ztunnel_outbound_pods.
func TestBindings_AddressOutsideTheMeshPassesThroughThePodsListener(t *testing.T) {
	r := call(t, renderBindings(t), "apps/web-0", "10.9.9.9:80", nil)
	if r.Outcome != trace.PassedThrough || r.Destination != "10.9.9.9:80" {
		t.Fatalf("%s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
	if got := names(r.Find(trace.StepChain, "ztunnel/node-1")); got != hbone.ChainToServices+" "+hbone.ChainToPods+" "+hbone.ChainPassthrough {
		t.Fatalf("ztunnel/node-1 chains %s\n%s", got, dump(r))
	}
}

// A service address goes from ztunnel_outbound to
// ztunnel_outbound_services, whose destination matcher picks the
// service's chain; on a port the service does not have, the connection
// passes through from there, still the pod's own.
func TestBindings_ServiceAddressGoesThroughTheServicesListener(t *testing.T) {
	res := renderBindings(t)
	r := call(t, res, "apps/web-0", "10.96.1.2:5432", nil)
	if r.Destination == "10.96.1.2:5432" {
		t.Fatalf("%s %s: want one of db's endpoints\n%s", r.Outcome, r.Destination, dump(r))
	}
	if got := names(r.Find(trace.StepListener, "ztunnel/node-1")); !strings.HasPrefix(got, "ztunnel_outbound ztunnel_outbound_services ") || strings.Contains(got, "ztunnel_outbound_pods") {
		t.Fatalf("ztunnel/node-1 listeners %s\n%s", got, dump(r))
	}
	if got := names(r.Find(trace.StepChain, "ztunnel/node-1")); !strings.HasPrefix(got, hbone.ChainToServices+" outbound|5432||db.apps.svc.cluster.local ") {
		t.Fatalf("ztunnel/node-1 chains %s\n%s", got, dump(r))
	}
	r = call(t, res, "apps/web-0", "10.96.1.2:9999", nil)
	if r.Outcome != trace.PassedThrough || r.Destination != "10.96.1.2:9999" {
		t.Fatalf("%s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
	if got := names(r.Find(trace.StepChain, "ztunnel/node-1")); got != hbone.ChainToServices+" "+hbone.ChainPassthrough {
		t.Fatalf("ztunnel/node-1 chains %s\n%s", got, dump(r))
	}
}

func names(steps []trace.Hop) string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name)
	}
	return strings.Join(out, " ")
}

// A service bound to a waypoint: ztunnel_outbound hands the connection
// to ztunnel_outbound_services, whose original_dst filter restores the
// destination from the filter state to_services shared with it, and
// whose destination matcher sends it to the waypoint's chain; the pods
// listener is not entered.
func TestBindings_ServiceBoundToAWaypointGoesThroughTheServicesListener(t *testing.T) {
	r := call(t, renderBindings(t), "apps/web-0", "cache.apps:6379", map[string]string{"key": "k"})
	if r.Outcome != trace.Delivered || r.Destination != "10.2.0.30:6379" {
		t.Fatalf("%s %s: want delivered to cache-0\n%s", r.Outcome, r.Destination, dump(r))
	}
	if got := strings.Join(path(r), " -> "); got != "ztunnel/node-1 -> waypoint/shared/all-wp -> ztunnel/node-2" {
		t.Fatalf("path %s\n%s", got, dump(r))
	}
	if got := names(r.Find(trace.StepListener, "ztunnel/node-1")); got != "ztunnel_outbound ztunnel_outbound_services connect_originate" {
		t.Fatalf("ztunnel/node-1 listeners %s\n%s", got, dump(r))
	}
	if got := names(r.Find(trace.StepChain, "ztunnel/node-1")); !strings.HasPrefix(got, hbone.ChainToServices+" to-waypoint|shared/all-wp connect_originate|") {
		t.Fatalf("ztunnel/node-1 chains %s\n%s", got, dump(r))
	}
	if f := r.Find(trace.StepListenerFilter, "ztunnel/node-1"); len(f) < 2 || !strings.Contains(f[1].Detail, "destination 10.96.1.3:6379 from filter state") {
		t.Fatalf("ztunnel_outbound_services original_dst %+v\n%s", f, dump(r))
	}
}

// withoutListener is res with one listener of one proxy left out.
func withoutListener(res *render.Result, proxy, listener string) *render.Result {
	for _, p := range res.Output.Proxies {
		if p.ID != proxy {
			continue
		}
		var kept []*listenerv3.Listener
		for _, l := range p.Listeners {
			if l.GetName() != listener {
				kept = append(kept, l)
			}
		}
		p.Listeners = kept
	}
	return res
}

// The trace takes the hop to ztunnel_outbound_services, not a shortcut:
// without that listener in the ztunnel's config, Envoy's internal
// connection finds no listener of that name and is closed
// (source/extensions/bootstrap/internal_listener/client_connection_factory.cc),
// so a call to a service address, and one to an address of no service,
// stop at the ztunnel.
func TestBindings_WithoutTheServicesListenerNoConnectionLeavesTheZtunnel(t *testing.T) {
	res := withoutListener(renderBindings(t), "ztunnel/node-1", hbone.ListenerZtunnelOutboundServices)
	for _, to := range []string{"db.apps:5432", "cache.apps:6379", "10.9.9.9:80", "10.2.0.40:9000"} {
		r := call(t, res, "apps/web-0", to, map[string]string{"key": "k"})
		if r.Outcome != trace.Stopped || !strings.Contains(r.Reason, `internal address names listener "ztunnel_outbound_services"`) {
			t.Fatalf("to %s: %s %q\n%s", to, r.Outcome, r.Reason, dump(r))
		}
	}
}

// The services listener picks a chain by the destination the to_services
// chain hands on in filter state (Envoy's original_dst listener filter on
// an internal listener: source/extensions/filters/listener/original_dst/original_dst.cc).
// Without that set_filter_state, the services listener has no destination
// to match, and the call stops in the ztunnel.
func TestBindings_TheServicesListenerMatchesTheDestinationHandedOn(t *testing.T) {
	res := renderBindings(t)
	for _, p := range res.Output.Proxies {
		if p.ID != "ztunnel/node-1" {
			continue
		}
		for i, l := range p.Listeners {
			if l.GetName() != hbone.ListenerZtunnelOutbound {
				continue
			}
			l = proto.Clone(l).(*listenerv3.Listener)
			for _, c := range l.GetFilterChains() {
				if c.GetName() == hbone.ChainToServices {
					c.Filters = c.Filters[1:] // drop set_filter_state, keep tcp_proxy
				}
			}
			p.Listeners[i] = l
		}
	}
	r := call(t, res, "apps/web-0", "db.apps:5432", nil)
	if r.Outcome != trace.Stopped {
		t.Fatalf("%s %s: reached %s without the destination handed on\n%s", r.Outcome, r.Destination, r.Destination, dump(r))
	}
	// No destination: the matcher's destination-ip input has no value, so
	// its on_no_match (to_pods) is taken, which cannot hand on a
	// destination either.
	if got := names(r.Find(trace.StepChain, "ztunnel/node-1")); got != hbone.ChainToServices+" "+hbone.ChainToPods {
		t.Fatalf("ztunnel/node-1 chains %s\n%s", got, dump(r))
	}
	if f := r.Find(trace.StepListenerFilter, "ztunnel/node-1"); len(f) < 2 || !strings.Contains(f[1].Detail, "nothing to restore") {
		t.Fatalf("ztunnel_outbound_services original_dst %+v\n%s", f, dump(r))
	}
}

func TestBindings_MissingWaypointFailsClosed(t *testing.T) {
	r := call(t, renderBindings(t), "outside/opted-in", "queue.shared:5672", nil)
	if r.Outcome != trace.Stopped || !strings.Contains(r.Reason, "waypoint|shared/missing-wp has no healthy endpoint") {
		t.Fatalf("%s %q\n%s", r.Outcome, r.Reason, dump(r))
	}
}

func TestBindings_EndpointOutsideTheMeshGetsPlaintext(t *testing.T) {
	r := call(t, renderBindings(t), "apps/web-0", "db.apps:5432", nil)
	if r.Outcome != trace.PassedThrough || r.Destination != "10.2.0.20:5432" || len(r.Find(trace.StepTunnel, "")) != 0 {
		t.Fatalf("%s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
	if l := r.Find(trace.StepListener, "ztunnel/node-1"); l[len(l)-1].Name != hbone.ListenerPlaintextOriginate {
		t.Fatalf("listeners %+v", l)
	}
}

func TestBindings_OptedOutPodIsNotCaptured(t *testing.T) {
	r := call(t, renderBindings(t), "apps/web-1", "cache.apps:6379", nil)
	if r.Outcome != trace.PassedThrough {
		t.Fatalf("%s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
}
