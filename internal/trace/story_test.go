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
	// demoInterface is the Dubbo interface the consumer calls: dubbo_proxy
	// routes by it (every Dubbo request names one).
	demoInterface = "org.apache.dubbo.samples.basic.api.DemoService"
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
	r := call(t, res, consumer, "dubbo-provider:20880", map[string]string{"interface": demoInterface, "method": "sayHello"})
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
	r := call(t, res, consumer, "dubbo-provider:20880", map[string]string{"interface": demoInterface, "method": "sayBye"})
	if r.Outcome != trace.Delivered || r.Destination != v1Pod {
		t.Fatalf("sayBye: %s %s, want delivered to v1 %s\n%s", r.Outcome, r.Destination, v1Pod, dump(r))
	}
	if routes := r.Find(trace.StepRoute, waypoint); routes[len(routes)-1].Name != "default-to-v1" {
		t.Fatalf("routes %+v", routes)
	}
}

func TestStory_SplitRouteReportsWeights(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, consumer, "dubbo-provider:20880", map[string]string{"interface": demoInterface, "method": "sayGoodbye"})
	routes := r.Find(trace.StepRoute, waypoint)
	if last := routes[len(routes)-1]; last.Name != "say-goodbye-split" || !strings.Contains(last.Detail, "weight 50 (50%)") {
		t.Fatalf("split route %+v", last)
	}
}

func TestStory_PodOutsideTheMeshPassesThrough(t *testing.T) {
	res := renderExample(t)
	r := call(t, res, "legacy/legacy-client", "dubbo-provider.dubbo-ambient:20880", map[string]string{"interface": demoInterface, "method": "sayHello"})
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

// TestStory_WaypointBuildsTheSplitWithDubboProxy: the waypoint runs
// upstream Envoy, which has generic_proxy, but generic_proxy does not
// implement weighted_clusters; the port is built with dubbo_proxy, which
// does, and the trace follows its table for the split.
func TestStory_WaypointBuildsTheSplitWithDubboProxy(t *testing.T) {
	res := renderExample(t)
	found := false
	for _, p := range res.Output.Proxies {
		if p.ID == waypoint && p.Profile.Name == "envoy" {
			for _, l := range p.Listeners {
				found = found || strings.Contains(l.String(), "envoy.filters.network.dubbo_proxy")
			}
		}
	}
	if !found {
		t.Fatal("the waypoint (build envoy) has no dubbo_proxy chain")
	}
	note := false
	for _, d := range res.Diagnostics {
		note = note || d.Severity == model.SeverityInfo && strings.Contains(d.Message, `route "say-goodbye-split" splits calls by weight, which generic_proxy does not implement`)
	}
	if !note {
		t.Errorf("no note on the MetaRouter saying why the port is dubbo_proxy: %v", res.Diagnostics)
	}
}

// TestStory_GenericProxyOptionRefusesTheSplit: forced to generic_proxy,
// the split cannot be carried: the MetaRouter gets an error and the
// waypoint's port refuses calls rather than send them to cluster "".
func TestStory_GenericProxyOptionRefusesTheSplit(t *testing.T) {
	d, err := dubbo.New(dubbo.Options{Filter: dubbo.FilterGenericProxy})
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
	refused := false
	for _, e := range res.Errors() {
		refused = refused || e.Object.Kind == "MetaRouter" && e.Reason == "WeightsNotImplemented" && strings.Contains(e.Message, "cluster_not_found")
	}
	if !refused {
		t.Fatalf("want the split refused on the MetaRouter, got %v", res.Errors())
	}
	r := call(t, res, consumer, "dubbo-provider:20880", map[string]string{"interface": demoInterface, "method": "sayGoodbye"})
	if r.Outcome != trace.Stopped || !strings.Contains(r.Reason, "denied by") {
		t.Fatalf("want the waypoint to refuse the call, got %s %q\n%s", r.Outcome, r.Reason, dump(r))
	}
}
