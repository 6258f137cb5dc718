package plugintest

import (
	"fmt"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// scenario is one standard situation and what must hold in it.
type scenario struct {
	name   string
	router string
	// contains are strings the outbound and waypoint output must mention
	// (match values, subset clusters, weights).
	contains []string
	// rejected names a router that must be reported with reason and left out.
	rejected, reason string
	// mayRefuse lets a plugin whose data plane cannot carry the scenario
	// (weights on generic_proxy, which Envoy does not implement) report an
	// error on the router instead of programming it: contains is then not
	// checked for the roles where it did.
	mayRefuse bool
}

func (k *kit) mesh() string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: svc, namespace: %[1]s}
spec:
  clusterIP: 10.0.0.10
  selector: {app: svc}
  ports: [{name: %[2]s, port: %[3]d, targetPort: %[3]d}]
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: %[1]s}
spec:
  clusterIP: 10.0.0.11
  selector: {app: other}
  ports: [{name: %[2]s, port: %[3]d, targetPort: %[3]d}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc, namespace: %[1]s}
spec:
  host: %[4]s
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`, Namespace, k.opts.PortName, Port, Host)
}

func router(name, hosts, routes string) string {
	return fmt.Sprintf("apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata: {name: %s, namespace: %s}\nspec:\n  hosts: %s\n  routes:\n%s", name, Namespace, hosts, routes)
}

func (k *kit) scenarios() []scenario {
	attr := k.opts.Attribute
	v2 := fmt.Sprintf("outbound|%d|v2|%s", Port, Host)
	v1 := fmt.Sprintf("outbound|%d|v1|%s", Port, Host)
	match := func(kind, value string) string {
		return fmt.Sprintf("  - name: by-%s\n    match: {attributes: {%s: %s}}\n    route: [{destination: {host: %s, subset: v2}}]\n", kind, attr, value, Host)
	}
	return []scenario{
		{name: "no-router"},
		{name: "match-exact", router: router("r", "["+Host+"]", match("exact", "{exact: sayHello}")), contains: []string{"sayHello", v2}},
		{name: "match-prefix", router: router("r", "["+Host+"]", match("prefix", "{prefix: say}")), contains: []string{`"say"`, v2}},
		{name: "match-regex", router: router("r", "["+Host+"]", match("regex", `{regex: "say(Hello|Hi)"}`)), contains: []string{"say(Hello|Hi)", v2}},
		{name: "match-presence", router: router("r", "["+Host+"]", match("presence", "{}")), contains: []string{v2}},
		{name: "subsets-and-weights", router: router("r", "["+Host+"]", fmt.Sprintf(
			"  - name: split\n    route:\n    - {destination: {host: %s, subset: v1}, weight: 70}\n    - {destination: {host: %s, subset: v2}, weight: 30}\n", Host, Host)),
			contains: []string{v1, v2, "70", "30"}, mayRefuse: true},
		{name: "malformed-router", router: router("bad", "["+Host+"]", match("regex", `{regex: "say(Hello"}`)), rejected: "bad", reason: "InvalidRoute"},
		{name: "unknown-host", router: router("lost", "[nowhere."+Namespace+".svc.cluster.local]", match("exact", "{exact: x}")), rejected: "lost", reason: "HostNotFound"},
	}
}

func (k *kit) scenario(name string) scenario {
	for _, s := range k.scenarios() {
		if s.name == name {
			return s
		}
	}
	panic("plugintest: no scenario " + name)
}

// run translates a scenario and checks it.
func (k *kit) run(t *testing.T, sc scenario) {
	t.Helper()
	res := k.translateScenario(t, sc)
	name := k.p.Name()

	for _, u := range []unitView{{plugin.RoleSidecarOutbound, res.outbound}, {plugin.RoleSidecarInbound, res.inbound}} {
		if u.unit == nil {
			t.Errorf("%s: the translator built no %s config for %s: does plugin %q claim port %s?", sc.name, u.role, Host, name, k.opts.PortName)
			continue
		}
		if u.unit.FailedClosed {
			t.Errorf("%s: plugin %q failed for role %s on proxy build %s (a panic, an error, or output that fails ValidateAll or the fidelity gate): %v", sc.name, name, u.role, k.opts.Targets.ForRole(u.role), messages(u.unit.Diagnostics))
			continue
		}
		if err := validateAll(k.opts.Targets.ForRole(u.role), u.unit.Filters, u.unit.RouteConfig); err != nil {
			t.Errorf("%s: %s output fails validation: %v", sc.name, u.role, err)
		}
		checkNames(t, sc.name, u.role, res.out.Snapshot.View(), u.unit.Filters, u.unit.RouteConfig)
		if u.role == plugin.RoleSidecarOutbound && !(sc.mayRefuse && refusedRouter(u.unit.Diagnostics)) {
			checkContains(t, k.opts.NoRouting, sc, u.role, u.unit.Filters, u.unit.RouteConfig)
		}
	}
	for _, ef := range res.out.EnvoyFilters {
		if err := ef.Validate(); err != nil {
			t.Errorf("%s: EnvoyFilter %s/%s: %v", sc.name, ef.Namespace, ef.Name, err)
		}
	}

	for _, role := range []plugin.Role{plugin.RoleSidecarOutbound, plugin.RoleSidecarInbound} {
		if err := k.sidecarPacking(res.out.Snapshot, role); err != nil {
			t.Errorf("%s: plugin %q, role %s: %v", sc.name, name, role, err)
		}
	}

	switch {
	case res.panicked != nil:
		t.Errorf("%s: plugin %q failed for role waypoint: %v", sc.name, name, res.panicked)
	default:
		if err := validateAll(k.opts.Targets.ForKind(plugin.ProxyKindWaypoint), res.waypoint, res.wpRoutes); err != nil {
			t.Errorf("%s: waypoint output fails validation: %v", sc.name, err)
		}
		if len(res.waypoint) == 0 {
			t.Errorf("%s: plugin %q built no filter for the waypoint role", sc.name, name)
		}
		checkNames(t, sc.name, plugin.RoleWaypoint, res.out.Snapshot.View(), res.waypoint, res.wpRoutes)
		wsc := sc
		wsc.contains = nil
		for _, c := range sc.contains {
			wsc.contains = append(wsc.contains, strings.Replace(c, "outbound|", "inbound-vip|", 1))
		}
		if !(sc.mayRefuse && refusedRouter(res.wpReports)) {
			checkContains(t, k.opts.NoRouting, wsc, plugin.RoleWaypoint, res.waypoint, res.wpRoutes)
		}
	}

	for _, d := range append(res.out.Diagnostics, res.wpReports...) {
		if d.Plugin == "" && d.Reason != "InvalidRoute" && d.Reason != "HostNotFound" && d.Reason != "SubsetNotFound" {
			continue // the core's own findings
		}
		if d.Plugin != "" && d.Plugin != name {
			t.Errorf("%s: diagnostic from plugin %q does not carry its name: %s", sc.name, name, d)
		}
		if d.Object.Kind == "" {
			t.Errorf("%s: diagnostic does not say which object it is about: %s", sc.name, d)
		}
	}

	if sc.rejected != "" {
		found := false
		for _, d := range res.out.Diagnostics {
			if d.Severity == model.SeverityError && d.Object.Kind == "MetaRouter" && d.Object.Name == sc.rejected && d.Reason == sc.reason {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: MetaRouter %q was not reported with reason %s: %v", sc.name, sc.rejected, sc.reason, messages(res.out.Diagnostics))
		}
		if res.outbound != nil {
			for _, o := range res.outbound.Objects {
				if o.Kind == "MetaRouter" && o.Name == sc.rejected {
					t.Errorf("%s: the rejected MetaRouter %q reached the plugin", sc.name, sc.rejected)
				}
			}
		}
	}
}

// refusedRouter reports whether a build reported an error on a MetaRouter.
func refusedRouter(ds []model.Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == model.SeverityError && d.Object.Kind == "MetaRouter" {
			return true
		}
	}
	return false
}

type unitView struct {
	role plugin.Role
	unit *translate.Unit
}

func messages(ds []model.Diagnostic) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// checkContains requires the JSON of the output to mention each of sc.contains.
func checkContains(t *testing.T, noRouting bool, sc scenario, role plugin.Role, filters []*listenerv3.Filter, rc proto.Message) {
	t.Helper()
	if len(sc.contains) == 0 || noRouting {
		return
	}
	var b strings.Builder
	for _, f := range filters {
		js, _ := protojson.Marshal(f)
		b.Write(js)
	}
	if rc != nil {
		js, _ := protojson.Marshal(rc)
		b.Write(js)
	}
	got := b.String()
	for _, c := range sc.contains {
		if !strings.Contains(got, c) {
			t.Errorf("%s: %s output does not mention %q; the route was not programmed", sc.name, role, c)
		}
	}
}
