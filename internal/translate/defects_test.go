package translate_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// waypointBuilder builds one proxy holding b's waypoint chain; listIDs
// and build let a test break it.
type waypointBuilder struct {
	listIDs func() []string
	build   func(ctx *plugin.ProxyContext)
}

func (w *waypointBuilder) Name() string                          { return "wp" }
func (w *waypointBuilder) Protocols() []model.Protocol           { return nil }
func (w *waypointBuilder) MatchNode(*corev3.Node) (string, bool) { return "", false }
func (w *waypointBuilder) ProxyIDs(*model.View) []string {
	if w.listIDs != nil {
		return w.listIDs()
	}
	return []string{"waypoint/ns/wp"}
}
func (w *waypointBuilder) BuildProxy(ctx *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	if w.build != nil {
		w.build(ctx)
	} else {
		bChain(ctx)
	}
	return &plugin.Proxy{ID: id, Kind: plugin.ProxyKindWaypoint}, nil
}

func bChain(ctx *plugin.ProxyContext) (plugin.L7Chain, bool) {
	svc := ctx.Model.Service("b.ns.svc.cluster.local")
	return ctx.L7(plugin.L7Request{Role: plugin.RoleWaypoint, Service: svc, Port: svc.Ports[0], Waypoint: model.ObjectRef{Kind: "Gateway", Namespace: "ns", Name: "wp"}})
}

func waypointUnit(out *translate.Output) *translate.Unit {
	for _, u := range out.Units {
		if u.Role == plugin.RoleWaypoint {
			return u
		}
	}
	return nil
}

// Defect: a reused waypoint proxy did not carry its units into the next
// translation, so after a no-op translation its units vanished from the
// output and a later plugin failure failed the waypoint's port closed
// instead of keeping its last good config.
func TestReusedProxyKeepsItsUnits(t *testing.T) {
	broken := false
	f := &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		if broken {
			return nil, errors.New("no codec")
		}
		return validFilter(ctx), nil
	}}
	tr := newTranslator(t, f, &waypointBuilder{})
	first := tr.Translate(snapshot(t, mesh))
	if waypointUnit(first) == nil {
		t.Fatal("the first translation has no waypoint unit")
	}
	same := tr.Translate(snapshot(t, mesh))
	if same.Stats.ProxiesReused != 1 {
		t.Fatalf("unchanged input: %+v, want the proxy reused", same.Stats)
	}
	if waypointUnit(same) == nil {
		t.Fatal("the waypoint unit vanished from the output when its proxy was reused")
	}
	broken = true
	edited := tr.Translate(snapshot(t, strings.Replace(mesh, "exact: sayHello", "exact: sayBye", 1)))
	u := waypointUnit(edited)
	if u == nil || u.FailedClosed || !u.Stale {
		t.Fatalf("waypoint unit after a failed rebuild = %+v, want its last good config kept (stale)", u)
	}
}

// Defect: a panic in ProxyIDs was swallowed: no diagnostic, zero proxies,
// and the server published empty config to every connected proxy.
func TestProxyIDsPanicKeepsTheLastProxies(t *testing.T) {
	panics := false
	w := &waypointBuilder{listIDs: func() []string {
		if panics {
			panic("index out of range")
		}
		return []string{"waypoint/ns/wp"}
	}}
	tr := newTranslator(t, &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { return validFilter(ctx), nil }}, w)
	good := tr.Translate(snapshot(t, mesh))
	panics = true
	bad := tr.Translate(snapshot(t, mesh))
	if len(bad.Proxies) != 1 || !bad.Proxies[0].Stale || bad.Proxies[0].Revision != good.Proxies[0].Revision {
		t.Fatalf("proxies after ProxyIDs panicked = %+v, want the last one kept, stale", bad.Proxies)
	}
	found := false
	for _, d := range errorsOf(bad) {
		found = found || (d.Plugin == "wp" && strings.Contains(d.Message, "panicked: index out of range") && strings.Contains(d.Message, "last good config"))
	}
	if !found {
		t.Fatalf("the panic is not reported: %v", bad.Diagnostics)
	}
	if waypointUnit(bad) == nil {
		t.Error("the kept proxy's unit vanished from the output")
	}
	panics = false
	again := tr.Translate(snapshot(t, mesh))
	if len(again.Proxies) != 1 || again.Proxies[0].Stale {
		t.Fatalf("after ProxyIDs recovers: %+v, want a fresh proxy", again.Proxies)
	}
	// A first translation that panics says so too.
	panics = true
	fresh := newTranslator(t, &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { return validFilter(ctx), nil }}, w).Translate(snapshot(t, mesh))
	if errs := errorsOf(fresh); len(errs) != 1 || !strings.Contains(errs[0].Message, "no proxy of the plugin gets config") {
		t.Fatalf("fresh translator: %v, want the panic reported", fresh.Diagnostics)
	}
}

// Defect: the tracked view wrote a proxy's deps without the lock L7 takes;
// a ProxyBuilder reading the model while asking for chains from several
// goroutines raced (go test -race).
func TestProxyBuilderMayReadConcurrently(t *testing.T) {
	w := &waypointBuilder{build: func(ctx *plugin.ProxyContext) {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(2)
			go func() { defer wg.Done(); bChain(ctx) }()
			go func() { defer wg.Done(); ctx.Model.Service("a.ns.svc.cluster.local"); ctx.Model.Workloads() }()
		}
		wg.Wait()
	}}
	tr := newTranslator(t, &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { return validFilter(ctx), nil }}, w)
	tr.Translate(snapshot(t, mesh))
	if again := tr.Translate(snapshot(t, mesh)); again.Stats.ProxiesReused != 1 {
		t.Fatalf("%+v: want the proxy reused", again.Stats)
	}
}

// Defect: failure messages repeated the object and the plugin the
// diagnostic already names ("...plugin fake: Service ns/a: no codec; ...
// [plugin fake]").
func TestFailureMessageSaysObjectAndPluginOnce(t *testing.T) {
	f := &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		return nil, plugin.Errorf("fake", ctx.Service.Ref, "NoCodec", "no codec")
	}}
	out := newTranslator(t, f).Translate(snapshot(t, mesh))
	errs := errorsOf(out)
	if len(errs) == 0 {
		t.Fatal("no error")
	}
	for _, d := range errs {
		s := d.String()
		if strings.Count(s, "fake") != 1 || strings.Count(s, d.Object.String()) != 1 || !strings.Contains(s, "no codec") || d.Reason != "NoCodec" {
			t.Errorf("%q: want the object and the plugin named once, the cause and reason kept", s)
		}
	}
}
