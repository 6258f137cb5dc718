package trace_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/trace"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// The application team's story, on examples/ambient-dubbo: Dubbo calls
// routed by method through a waypoint, with the trace as the oracle on the
// generated config.

const (
	consumer = "dubbo-ambient/dubbo-consumer-84c6d-klmno"
	v1Pod    = "10.244.2.11:20880"
	v2Pod    = "10.244.2.12:20880"
	waypoint = "waypoint/dubbo-ambient/waypoint"
)

func renderExample(t *testing.T) *render.Result {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(render.Options{Paths: []string{"../../examples/ambient-dubbo"}, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, diag := range res.Diagnostics {
		if diag.Severity >= model.SeverityWarning {
			t.Errorf("example has a finding: %s", diag)
		}
	}
	return res
}

func call(t *testing.T, res *render.Result, from, to string, attrs map[string]string) *trace.Result {
	t.Helper()
	r, err := trace.Run(res.Output, trace.Request{From: from, To: to, Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dump(r *trace.Result) string {
	var b strings.Builder
	_ = r.Write(&b)
	return b.String()
}

// path lists the proxies a call's listeners were on, in order, without repeats.
func path(r *trace.Result) []string {
	var out []string
	for _, h := range r.Find(trace.StepListener, "") {
		if len(out) == 0 || out[len(out)-1] != h.Proxy {
			out = append(out, h.Proxy)
		}
	}
	return out
}

func TestStory_SayHelloGoesThroughWaypointToV2(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, consumer, "dubbo-provider:20880", map[string]string{"method": "sayHello"})
	if r.Outcome != trace.Delivered || r.Destination != v2Pod {
		t.Fatalf("sayHello: %s %s, want delivered to v2 %s\n%s", r.Outcome, r.Destination, v2Pod, dump(r))
	}
	if got := strings.Join(path(r), " -> "); got != "ztunnel/node-a -> "+waypoint+" -> ztunnel/node-b" {
		t.Fatalf("path %s\n%s", got, dump(r))
	}
	tunnels := r.Find(trace.StepTunnel, "")
	if len(tunnels) != 2 || tunnels[0].Name != "10.244.3.10:15008" || tunnels[1].Name != "10.244.2.12:15008" ||
		!strings.Contains(tunnels[0].Detail, "CONNECT 10.96.100.20:20880") || !strings.Contains(tunnels[1].Detail, "CONNECT "+v2Pod) ||
		!strings.Contains(tunnels[0].Detail, "spiffe://cluster.local/ns/dubbo-ambient/sa/dubbo-consumer") {
		t.Fatalf("tunnels %+v", tunnels)
	}
	routes := r.Find(trace.StepRoute, waypoint)
	if len(routes) != 2 || routes[1].Name != "say-hello-to-v2" {
		t.Fatalf("waypoint routes %+v", routes)
	}
	if chains := r.Find(trace.StepChain, waypoint); len(chains) < 2 || chains[1].Name != "inbound-vip|20880|dubbo|dubbo-provider.dubbo-ambient.svc.cluster.local" {
		t.Fatalf("waypoint chains %+v", chains)
	}
}

func TestStory_OtherMethodsGoToV1(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, consumer, "dubbo-provider:20880", map[string]string{"method": "sayBye"})
	if r.Outcome != trace.Delivered || r.Destination != v1Pod {
		t.Fatalf("sayBye: %s %s, want delivered to v1 %s\n%s", r.Outcome, r.Destination, v1Pod, dump(r))
	}
	if routes := r.Find(trace.StepRoute, waypoint); routes[len(routes)-1].Name != "default-to-v1" {
		t.Fatalf("routes %+v", routes)
	}
}

func TestStory_SplitRouteReportsWeights(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, consumer, "dubbo-provider:20880", map[string]string{"method": "sayGoodbye"})
	routes := r.Find(trace.StepRoute, waypoint)
	if last := routes[len(routes)-1]; last.Name != "say-goodbye-split" || !strings.Contains(last.Detail, "weight 50 (50%)") {
		t.Fatalf("split route %+v", last)
	}
}

func TestStory_PodOutsideTheMeshPassesThrough(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, "legacy/legacy-client", "dubbo-provider.dubbo-ambient:20880", map[string]string{"method": "sayHello"})
	if r.Outcome != trace.PassedThrough || r.Destination != "10.96.100.20:20880" || len(r.Find(trace.StepTunnel, "")) != 0 {
		t.Fatalf("legacy client: %s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
	if c := r.Find(trace.StepChain, "ztunnel/node-a"); len(c) != 1 || c[0].Name != hbone.ChainPassthrough {
		t.Fatalf("chains %+v", c)
	}
}

func TestStory_ServiceWithoutWaypointGoesStraightToThePod(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, consumer, "hello.hello-ambient:5000", nil)
	if r.Outcome != trace.Delivered || r.Destination != "10.244.1.30:5000" {
		t.Fatalf("hello: %s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
	assertDirectHBONE(t, r, "10.244.1.30")
}

func TestStory_UseWaypointNoneGoesStraightToThePod(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, consumer, "echo:9000", nil)
	if r.Outcome != trace.Delivered || r.Destination != "10.244.2.20:8080" {
		t.Fatalf("echo: %s %s\n%s", r.Outcome, r.Destination, dump(r))
	}
	assertDirectHBONE(t, r, "10.244.2.20")
}

// assertDirectHBONE checks that a call met no waypoint and tunnelled once,
// to the pod's own port 15008 with :authority <pod IP>:<target port>.
func assertDirectHBONE(t *testing.T, r *trace.Result, podIP string) {
	t.Helper()
	for _, p := range path(r) {
		if strings.HasPrefix(p, "waypoint/") {
			t.Fatalf("went through %s\n%s", p, dump(r))
		}
	}
	tunnels := r.Find(trace.StepTunnel, "")
	if len(tunnels) != 1 || tunnels[0].Name != podIP+":15008" || !strings.Contains(tunnels[0].Detail, "CONNECT "+r.Destination) {
		t.Fatalf("tunnels %+v\n%s", tunnels, dump(r))
	}
}
