package translate_test

import (
	"errors"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/redis"
)

const mesh = `apiVersion: v1
kind: Service
metadata: {name: a, namespace: ns}
spec:
  clusterIP: 10.0.0.1
  selector: {app: a}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: ns}
spec:
  clusterIP: 10.0.0.2
  selector: {app: b}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: ns}
spec:
  host: a
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: good, namespace: ns}
spec:
  hosts: [b]
  routes:
  - match: {attributes: {method: {exact: sayHello}}}
    route: [{destination: {host: a, subset: v2}}]
`

func snapshot(t *testing.T, docs ...string) *model.Snapshot {
	t.Helper()
	b := model.NewBuilder(model.Options{Kinds: builtinKinds(t)})
	diags := file.LoadBytes("mesh.yaml", []byte(strings.Join(docs, "\n---\n")), b, file.Options{})
	for _, d := range diags {
		if d.Severity == model.SeverityError {
			t.Fatalf("test input: %s", d)
		}
	}
	return b.Build()
}

func newTranslator(t *testing.T, plugins ...plugin.Plugin) *translate.Translator {
	t.Helper()
	if len(plugins) == 0 {
		d, err := dubbo.New(dubbo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		plugins = []plugin.Plugin{d}
	}
	reg, err := plugin.NewRegistry(plugins...)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func errorsOf(out *translate.Output) []model.Diagnostic {
	var res []model.Diagnostic
	for _, d := range out.Diagnostics {
		if d.Severity == model.SeverityError {
			res = append(res, d)
		}
	}
	return res
}

func envoyFilter(out *translate.Output, name string) *translate.EnvoyFilter {
	for _, ef := range out.EnvoyFilters {
		if ef.Name == name {
			return ef
		}
	}
	return nil
}

// TestBadRoutersAreRejectedAlone: each bad router gives one clear error
// naming it and the field, is left out, and the valid router still renders.
func TestBadRoutersAreRejectedAlone(t *testing.T) {
	cases := []struct {
		name, router string
		hosts        string
		reason       string
		fragments    []string
	}{
		{"weights", `routes:
  - route:
    - {destination: {host: a, subset: v1}, weight: 80}
    - {destination: {host: a, subset: v2}, weight: 30}`, "", "InvalidRoute", []string{"spec.routes[0].route", "sum to 110"}},
		{"regex", `routes:
  - match: {attributes: {method: {regex: "say(Hello"}}}
    route: [{destination: {host: a}}]`, "", "InvalidRoute", []string{"spec.routes[0].match.attributes.method.regex", "invalid RE2"}},
		{"unknown-host", `routes:
  - route: [{destination: {host: nowhere}}]`, "", "HostNotFound", []string{"spec.routes[0].route[0].destination.host", `"nowhere"`}},
		{"unknown-subset", `routes:
  - route: [{destination: {host: a, subset: v9}}]`, "", "SubsetNotFound", []string{"spec.routes[0].route[0].destination.subset", `"v9"`}},
		{"unknown-router-host", `routes: []`, "[a, ghost]", "HostNotFound", []string{"spec.hosts[1]", `"ghost"`}},
		{"no-plugin", `routes: []`, "[web]", "UnsupportedProtocol", []string{"no plugin handles any port of web.ns.svc.cluster.local", "80/http"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hosts := c.hosts
			if hosts == "" {
				hosts = "[a]"
			}
			bad := "apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata: {name: bad, namespace: ns}\nspec:\n  hosts: " + hosts + "\n  " + c.router + "\n"
			out := newTranslator(t).Translate(snapshot(t, mesh, bad))
			errs := errorsOf(out)
			if len(errs) != 1 {
				t.Fatalf("want one error, got %d: %v", len(errs), errs)
			}
			e := errs[0]
			if e.Object.String() != "MetaRouter ns/bad" || e.Reason != c.reason {
				t.Errorf("error is about %s with reason %s, want MetaRouter ns/bad with %s: %s", e.Object, e.Reason, c.reason, e)
			}
			for _, f := range c.fragments {
				if !strings.Contains(e.String(), f) {
					t.Errorf("%q does not mention %q", e, f)
				}
			}
			if len(out.Rejected) != 1 || out.Rejected[0].Name != "bad" {
				t.Errorf("rejected = %v, want only the bad router", out.Rejected)
			}
			ef := envoyFilter(out, "aeraki-outbound-b.ns.svc.cluster.local")
			if ef == nil || !strings.Contains(ef.Annotation("aeraki.io/source"), "MetaRouter ns/good") {
				t.Fatalf("the valid router must still render, got %+v", ef)
			}
		})
	}
}

// TestMetaRouterChangeRebuildsOnlyItsHost checks incremental translation:
// changing b's router rebuilds b's units and reuses a's.
func TestMetaRouterChangeRebuildsOnlyItsHost(t *testing.T) {
	tr := newTranslator(t)
	first := tr.Translate(snapshot(t, mesh))
	if first.Stats.UnitsBuilt != 4 || first.Stats.UnitsReused != 0 {
		t.Fatalf("first translation: %+v, want 4 built", first.Stats)
	}
	same := tr.Translate(snapshot(t, mesh))
	if same.Stats.UnitsBuilt != 0 || same.Stats.UnitsReused != 4 {
		t.Fatalf("unchanged input: %+v, want everything reused", same.Stats)
	}
	changed := tr.Translate(snapshot(t, strings.Replace(mesh, "exact: sayHello", "exact: sayBye", 1)))
	if changed.Stats.UnitsBuilt != 1 || changed.Stats.UnitsReused != 3 {
		t.Fatalf("one router changed: %+v, want only b's outbound unit rebuilt", changed.Stats)
	}
	if envoyFilter(changed, "aeraki-outbound-a.ns.svc.cluster.local").Revision != envoyFilter(first, "aeraki-outbound-a.ns.svc.cluster.local").Revision {
		t.Error("a's EnvoyFilter changed although nothing about a did")
	}
	if envoyFilter(changed, "aeraki-outbound-b.ns.svc.cluster.local").Revision == envoyFilter(first, "aeraki-outbound-b.ns.svc.cluster.local").Revision {
		t.Error("b's EnvoyFilter did not change with its router")
	}
}

// fakePlugin claims dubbo and lets a test choose what it does.
type fakePlugin struct {
	build func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error)
}

func (f *fakePlugin) Name() string                { return "fake" }
func (f *fakePlugin) Protocols() []model.Protocol { return []model.Protocol{model.ProtocolDubbo} }
func (f *fakePlugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	return f.build(ctx)
}

func validFilter(ctx *plugin.BuildContext) []*listenerv3.Filter {
	return []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{StatPrefix: "x", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")}})}
}

func TestPluginPanicFailsClosedForItsPortOnly(t *testing.T) {
	f := &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		if ctx.Service.Hostname == "a.ns.svc.cluster.local" {
			panic("boom")
		}
		return validFilter(ctx), nil
	}}
	out := newTranslator(t, f).Translate(snapshot(t, mesh))
	var failed []string
	for _, u := range out.Units {
		if u.FailedClosed {
			failed = append(failed, u.Key)
		}
	}
	if len(failed) != 2 || !strings.Contains(strings.Join(failed, ","), "a.ns.svc.cluster.local") {
		t.Fatalf("failed-closed units = %v, want a's two", failed)
	}
	errs := errorsOf(out)
	if len(errs) != 2 || errs[0].Plugin != "fake" || !strings.Contains(errs[0].Message, "panicked: boom") || !strings.Contains(errs[0].Message, "fails closed") {
		t.Fatalf("want the panic reported with the plugin name, got %v", errs)
	}
	ef := envoyFilter(out, "aeraki-outbound-a.ns.svc.cluster.local")
	v := ef.Spec().ConfigPatches[0].Patch
	if v.Operation.String() != "INSERT_BEFORE" || !strings.Contains(v.Value.String(), "aeraki-fail-closed") {
		t.Fatalf("a's port must refuse connections: %v", v)
	}
	if err := ef.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValidationGateKeepsLastGood: a plugin that starts emitting a filter
// Envoy would reject is never served; the last good config stays.
func TestValidationGateKeepsLastGood(t *testing.T) {
	broken := false
	f := &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		if broken {
			// tcp_proxy without a stat prefix fails ValidateAll.
			return []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}})}, nil
		}
		return validFilter(ctx), nil
	}}
	tr := newTranslator(t, f)
	good := tr.Translate(snapshot(t, mesh))
	broken = true
	// Change the input so the units are rebuilt.
	bad := tr.Translate(snapshot(t, strings.Replace(mesh, "10.0.0.1", "10.0.0.9", 1)))
	var stale int
	for _, u := range bad.Units {
		if u.Stale {
			stale++
		}
		if u.FailedClosed {
			t.Errorf("unit %s failed closed although a good version existed", u.Key)
		}
	}
	if stale == 0 {
		t.Fatal("no unit kept its last good config")
	}
	found := false
	for _, d := range errorsOf(bad) {
		if strings.Contains(d.Message, "failed validation") && strings.Contains(d.Message, "last good config is kept") && d.Plugin == "fake" {
			found = true
		}
	}
	if !found {
		t.Fatalf("want a validation error naming the plugin, got %v", bad.Diagnostics)
	}
	for _, ef := range bad.EnvoyFilters {
		if err := ef.Validate(); err != nil {
			t.Errorf("an invalid filter was let through: %v", err)
		}
	}
	_ = good
	// A plugin error (not a panic) on a fresh translator fails closed.
	f.build = func(*plugin.BuildContext) ([]*listenerv3.Filter, error) { return nil, errors.New("no codec") }
	fresh := newTranslator(t, f).Translate(snapshot(t, mesh))
	for _, u := range fresh.Units {
		if !u.FailedClosed {
			t.Errorf("unit %s did not fail closed", u.Key)
		}
	}
}

// TestSnapshotWithoutThePluginsKindsIsReported: a snapshot built from
// model options not bound to the registry skipped the plugins' kinds; the
// translation says so instead of building as if no RedisService existed.
func TestSnapshotWithoutThePluginsKindsIsReported(t *testing.T) {
	tr := newTranslator(t, redis.New())
	out := tr.Translate(model.NewBuilder(model.Options{}).Build())
	found := false
	for _, d := range out.Diagnostics {
		found = found || (d.Reason == "KindNotRead" && d.Plugin == "redis" && strings.Contains(d.Message, "RedisService.redis.aeraki.io"))
	}
	if !found {
		t.Fatalf("no KindNotRead error for the redis plugin's kinds: %v", out.Diagnostics)
	}
	bound := tr.Translate(model.NewBuilder(model.Options{Kinds: redis.New().Kinds()}).Build())
	for _, d := range bound.Diagnostics {
		if d.Reason == "KindNotRead" {
			t.Fatalf("a bound snapshot reported %s", d)
		}
	}
}
