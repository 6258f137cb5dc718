package trace_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/trace"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// Thrift, Redis and Dubbo authorization through a waypoint, with the
// trace as the oracle on the generated config (testdata/protocols).

const shopClient = "shop/client"

// renderTestdata renders testdata/<dir> with the built-in plugins.
func renderTestdata(t *testing.T, dir string) *render.Result {
	t.Helper()
	ps := builtin.Plugins()
	reg, err := plugin.NewRegistry(ps...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(render.Options{Paths: []string{"testdata/" + dir}, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func renderProtocols(t *testing.T) *render.Result {
	t.Helper()
	res := renderTestdata(t, "protocols")
	for _, d := range res.Diagnostics {
		if d.Severity >= model.SeverityWarning {
			t.Errorf("finding: %s", d)
		}
	}
	return res
}

// routeHop is the protocol's route hop of a call in the waypoint (after
// the HBONE CONNECT route).
func routeHop(t *testing.T, r *trace.Result) trace.Hop {
	t.Helper()
	hops := r.Find(trace.StepRoute, "waypoint/shop/waypoint")
	if len(hops) != 2 || hops[0].Name != "connect" {
		t.Fatalf("want the CONNECT route and one protocol route in the waypoint, got %v\n%s", hops, dump(r))
	}
	return hops[1]
}

func TestProtocols_ThriftMethodRoutedToSubset(t *testing.T) {
	res := renderProtocols(t)
	for method, want := range map[string]string{"sayHello": "10.244.2.12:9090", "sayGoodbye": "10.244.2.11:9090"} {
		r := call(t, res, shopClient, "hello:9090", map[string]string{"method": method})
		if r.Outcome != trace.Delivered || r.Destination != want {
			t.Fatalf("%s: %s %s, want delivered to %s\n%s", method, r.Outcome, r.Destination, want, dump(r))
		}
		h := routeHop(t, r)
		if !strings.Contains(h.Detail, `thrift call "`+method+`"`) {
			t.Errorf("route hop does not show the thrift call: %s", h.Detail)
		}
	}
	r := call(t, res, shopClient, "hello:9090", map[string]string{"method": "sayHello"})
	if d := routeHop(t, r).Detail; !strings.Contains(d, `method_name "sayHello" matches`) || !strings.Contains(d, "inbound-vip|9090|v2|hello.shop.svc.cluster.local") {
		t.Errorf("sayHello route: %s", d)
	}
}

func TestProtocols_RedisKeyPrefixWithMirror(t *testing.T) {
	res := renderProtocols(t)
	r := call(t, res, shopClient, "redis:6379", map[string]string{"key": "cache:user:42", "command": "SET"})
	if r.Outcome != trace.Delivered || r.Destination != "10.244.2.22:6379" {
		t.Fatalf("cache key: %s %s, want delivered to the cache pod\n%s", r.Outcome, r.Destination, dump(r))
	}
	h := routeHop(t, r)
	if h.Name != `prefix "cache:"` || !strings.Contains(h.Detail, "mirrored to inbound-vip|6379||redis.shop.svc.cluster.local (10% of commands)") {
		t.Errorf("route hop %q: %s", h.Name, h.Detail)
	}
	r = call(t, res, shopClient, "redis:6379", map[string]string{"key": "session:1"})
	if r.Outcome != trace.Delivered || r.Destination != "10.244.2.21:6379" || routeHop(t, r).Name != "catch-all" {
		t.Fatalf("other key: %s %s, want the catch-all to the redis pod\n%s", r.Outcome, r.Destination, dump(r))
	}
}

func TestProtocols_DubboAuthorization(t *testing.T) {
	res := renderProtocols(t)
	denied := call(t, res, shopClient, "orders:20880", map[string]string{"interface": "com.shop.OrderService", "method": "cancelOrder"})
	if denied.Outcome == trace.Delivered {
		t.Fatalf("cancelOrder was delivered, want denied\n%s", dump(denied))
	}
	if h := routeHop(t, denied); h.Name != "denied by DubboAuthorizationPolicy shop/no-cancel" {
		t.Errorf("denied call's route %q, want the policy's deny route\n%s", h.Name, dump(denied))
	}
	allowed := call(t, res, shopClient, "orders:20880", map[string]string{"interface": "com.shop.OrderService", "method": "getOrder"})
	if allowed.Outcome != trace.Delivered || allowed.Destination != "10.244.2.31:20880" {
		t.Fatalf("getOrder: %s %s, want delivered\n%s", allowed.Outcome, allowed.Destination, dump(allowed))
	}
}

// TestProtocols_DubboAuthorizationByCaller: the waypoint checks who calls
// from the HBONE peer's SPIFFE id, which connect_terminate hands to the
// Dubbo chain in filter state.
func TestProtocols_DubboAuthorizationByCaller(t *testing.T) {
	res := renderProtocols(t)
	attrs := map[string]string{"interface": "com.shop.OrderService", "method": "getOrder"}
	if r := call(t, res, shopClient, "orders:20880", attrs); r.Outcome != trace.Delivered {
		t.Fatalf("the allowed caller was stopped: %s\n%s", r.Outcome, dump(r))
	}
	r := call(t, res, "shop/intruder", "orders:20880", attrs)
	if r.Outcome == trace.Delivered {
		t.Fatalf("a caller outside the policy reached the service\n%s", dump(r))
	}
	if !strings.Contains(dump(r), "spiffe://cluster.local/ns/shop/sa/intruder") || !strings.Contains(dump(r), "RBAC ALLOW") {
		t.Errorf("the denial does not name the caller and the policy:\n%s", dump(r))
	}
}
