package trace_test

import (
	"strings"
	"testing"

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
