package trace_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/trace"
	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
	"github.com/aeraki-ng/aeraki/plugins/thrift"
)

// examples/ambient-istio-waypoint: the waypoint is istiod's (class
// istio-waypoint); aeraki patches its chains with EnvoyFilters, and the
// trace follows a model of istiod's waypoint with those patches applied.

const (
	istioConsumer = "ambient-istio/dubbo-consumer-84c6d-klmno"
	istioWaypoint = "waypoint/ambient-istio/waypoint"
	istioDubbo    = "dubbo-provider.ambient-istio.svc.cluster.local"
)

func renderIstioExample(t *testing.T) *render.Result {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, thrift.New(), hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(render.Options{Paths: []string{"../../examples/ambient-istio-waypoint"}, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if errs := res.Errors(); len(errs) > 0 {
		t.Fatalf("the example renders with errors: %v", errs)
	}
	for _, id := range res.ProxyIDs() {
		if id == istioWaypoint {
			t.Fatalf("aeraki built proxy %s, which istiod serves", id)
		}
	}
	return res
}

// TestTraceThroughIstiodWaypoint: a Dubbo sayHello goes through istiod's
// chain inbound-vip|20880|tcp|<host>, whose tcp_proxy aeraki's dubbo_proxy
// replaced, to istiod's subset cluster tcp/v2 and the v2 pod; every hop in
// the waypoint but aeraki's route is marked as istiod's.
func TestTraceThroughIstiodWaypoint(t *testing.T) {
	res := renderIstioExample(t)
	for method, want := range map[string]struct{ route, subset, pod string }{
		"sayHello":   {"say-hello-to-v2", "v2", "10.244.2.12:20880"},
		"sayGoodbye": {"default-to-v1", "v1", "10.244.2.11:20880"},
	} {
		tr, err := trace.Run(res.Output, trace.Request{From: istioConsumer, To: "dubbo-provider:20880",
			Attributes: map[string]string{"interface": demoInterface, "method": method}})
		if err != nil {
			t.Fatal(err)
		}
		if tr.Outcome != trace.Delivered || tr.Destination != want.pod {
			t.Fatalf("%s: %s %s (%s), want delivered to %s:\n%s", method, tr.Outcome, tr.Destination, tr.Reason, want.pod, text(t, tr))
		}
		through := false
		for _, h := range tr.Find(trace.StepChain, istioWaypoint) {
			through = through || (h.Name == istiodwaypoint.ChainName(istioDubbo, 20880) && h.By == trace.ByIstiod)
		}
		if !through {
			t.Errorf("%s: no hop through istiod's chain %s:\n%s", method, istiodwaypoint.ChainName(istioDubbo, 20880), text(t, tr))
		}
		routes := tr.Find(trace.StepRoute, istioWaypoint)
		var ours []trace.Hop
		for _, h := range routes {
			if h.By == "" {
				ours = append(ours, h)
			}
		}
		if len(ours) != 1 || ours[0].Name != want.route {
			t.Errorf("%s: aeraki's routes in the waypoint %v, want only %s", method, ours, want.route)
		}
		cluster := istiodwaypoint.ClusterName(istioDubbo, 20880, want.subset)
		var found bool
		for _, h := range tr.Find(trace.StepCluster, istioWaypoint) {
			if h.Name == cluster {
				found = true
				if h.By != trace.ByIstiod {
					t.Errorf("%s: cluster %s is istiod's, hop says by %q", method, cluster, h.By)
				}
			}
		}
		if !found {
			t.Errorf("%s: no hop through istiod's subset cluster %s:\n%s", method, cluster, text(t, tr))
		}
		for _, h := range tr.Hops {
			if h.Proxy == istioWaypoint && h.Step == trace.StepListener && h.By != trace.ByIstiod {
				t.Errorf("%s: listener %s is istiod's, hop says by %q", method, h.Name, h.By)
			}
			if h.Proxy != istioWaypoint && h.By != "" {
				t.Errorf("%s: hop %s %s on %s marked %q", method, h.Step, h.Name, h.Proxy, h.By)
			}
		}
	}
}

// TestTraceThroughIstiodWaypointThrift: the same for the Thrift service.
func TestTraceThroughIstiodWaypointThrift(t *testing.T) {
	res := renderIstioExample(t)
	tr, err := trace.Run(res.Output, trace.Request{From: istioConsumer, To: "thrift-hello:9090", Attributes: map[string]string{"method": "sayHello"}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Outcome != trace.Delivered || tr.Destination != "10.244.2.22:9090" {
		t.Fatalf("%s %s (%s), want delivered to the v2 pod:\n%s", tr.Outcome, tr.Destination, tr.Reason, text(t, tr))
	}
	if !strings.Contains(text(t, tr), istiodwaypoint.ClusterName("thrift-hello.ambient-istio.svc.cluster.local", 9090, "v2")) {
		t.Errorf("the trace does not go through istiod's v2 cluster:\n%s", text(t, tr))
	}
}

func text(t *testing.T, r *trace.Result) string {
	t.Helper()
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestTraceStockInstall: Istio's Rust ztunnel (--ztunnel rust) into
// istiod's waypoint, aeraki's route, istiod's v2 cluster, delivered.
func TestTraceStockInstall(t *testing.T) {
	res := renderIstioExample(t)
	tr, err := trace.Run(res.Output, trace.Request{From: istioConsumer, To: "dubbo-provider:20880", Ztunnel: trace.ZtunnelRust,
		Attributes: map[string]string{"interface": demoInterface, "method": "sayHello"}})
	if err != nil {
		t.Fatal(err)
	}
	out := text(t, tr)
	if tr.Outcome != trace.Delivered || tr.Destination != "10.244.2.12:20880" ||
		!strings.Contains(out, "say-hello-to-v2\n") || !strings.Contains(out, istiodwaypoint.ClusterName(istioDubbo, 20880, "v2")+"  [istiod]") {
		t.Fatalf("want the Rust ztunnel, aeraki's route in istiod's waypoint and istiod's v2 cluster, delivered to v2:\n%s", out)
	}
}
