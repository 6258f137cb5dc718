package translate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/translate"
)

// dubboServiceDocs is one Dubbo Service at ip with a DestinationRule
// (subsets v1, v2) and a MetaRouter sending method to v2: the unit of the
// generated meshes of these tests and benchmarks.
func dubboServiceDocs(name, ns, ip, method string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  clusterIP: %[3]s
  selector: {app: %[1]s}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  host: %[1]s
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  hosts: [%[1]s]
  routes:
  - match: {attributes: {method: {exact: %[4]s}}}
    route: [{destination: {host: %[1]s, subset: v2}}]
`, name, ns, ip, method)
}

// spreadMesh is n Dubbo services s000.. over 5 namespaces (4 each for
// n=20), each with a DestinationRule and a MetaRouter on its own
// service. routes sets the method of a service's router; extra documents
// are appended (objects of other namespaces).
func spreadMesh(n int, routes map[string]string, extra ...string) string {
	var docs []string
	for i := range n {
		name, ns := fmt.Sprintf("s%03d", i), fmt.Sprintf("ns%d", i%5)
		method := "sayHello"
		if m, ok := routes[name]; ok {
			method = m
		}
		docs = append(docs, dubboServiceDocs(name, ns, fmt.Sprintf("10.0.2.%d", i+1), method))
	}
	docs = append(docs, extra...)
	return strings.Join(docs, "---\n")
}

// sameAsFresh fails unless out is what a new translator gives for its
// snapshot.
func sameAsFresh(t *testing.T, out *translate.Output, mesh string) {
	t.Helper()
	want := builtinTranslator(t).Translate(snapshot(t, mesh))
	if got, want := digest(out), digest(want); !slices.Equal(got, want) {
		t.Fatalf("the patched output differs from a fresh translation:\n%s", firstDifference(got, want))
	}
}

// TestMetaRouterEditLooksAtItsUnitOnly: after one router edit the
// translator keeps its list of units (nothing planning read changed),
// looks at the one unit that read the router, assembles the one group of
// EnvoyFilters of that service and looks at the routers of the router's
// namespace only, for the core's checks and the plugins' validators (the
// built-in Redis, Thrift and meta-protocol plugins validate objects); the
// output is a fresh translation's. Without a kept plan, patched lists and
// kept verdicts every unit, group and routing object would be looked at.
func TestMetaRouterEditLooksAtItsUnitOnly(t *testing.T) {
	tr := builtinTranslator(t)
	first := tr.Translate(snapshot(t, spreadMesh(20, nil)))
	if !first.Stats.Planned || first.Stats.UnitsLookedAt != 40 || first.Stats.EnvoyFilterGroups != 20 || first.Stats.RoutersLookedAt != 20 || first.Stats.ObjectsLookedAt != 40 {
		t.Fatalf("first translation: %+v, want every unit, group, router and routing object looked at", first.Stats)
	}
	mesh := spreadMesh(20, map[string]string{"s007": "sayGoodbye"})
	edited := tr.Translate(snapshot(t, mesh))
	s := edited.Stats
	if s.Planned || s.UnitsBuilt != 1 || s.UnitsLookedAt != 1 || s.UnitsReused != 39 || s.EnvoyFilterGroups != 1 || s.RoutersLookedAt != 4 || s.ObjectsLookedAt != 4 {
		t.Errorf("edit: %+v, want the plan kept, 1 unit looked at and built, 39 reused, 1 group, the 4 routers of ns2 (core checks and plugin validators)", s)
	}
	if got := rebuilt(first, edited); !slices.Equal(got, []string{"sidecar-outbound|s007.ns2.svc.cluster.local|20880"}) {
		t.Errorf("rebuilt %v", got)
	}
	var changed []string
	for i, ef := range edited.EnvoyFilters {
		if ef != first.EnvoyFilters[i] {
			changed = append(changed, ef.Name)
		}
	}
	if !slices.Equal(changed, []string{"aeraki-outbound-s007.ns2.svc.cluster.local"}) {
		t.Errorf("EnvoyFilters not handed over as they were: %v", changed)
	}
	sameAsFresh(t, edited, mesh)
}

// TestPatchedOutputFollowsServicesAndRouters: services and routers come
// and go (a router in a namespace that had none, which no namespace's
// list of routers names, is found all the same; a bad one is rejected)
// and after each step the patched output is a fresh translation's.
func TestPatchedOutputFollowsServicesAndRouters(t *testing.T) {
	stray := `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: stray, namespace: elsewhere}
spec:
  hosts: [nowhere]
  routes:
  - route: [{destination: {host: nowhere}}]
`
	steps := []struct {
		name string
		mesh string
		plan bool // the unit list is made again
	}{
		{"start", spreadMesh(20, nil), true},
		{"router in a new namespace", spreadMesh(20, nil, stray), false},
		{"router edited", spreadMesh(20, map[string]string{"s003": "ping"}, stray), false},
		{"services added", spreadMesh(23, map[string]string{"s003": "ping"}, stray), true},
		{"router gone", spreadMesh(23, map[string]string{"s003": "ping"}), false},
		{"services removed", spreadMesh(12, nil), true},
	}
	tr := builtinTranslator(t)
	for _, st := range steps {
		out := tr.Translate(snapshot(t, st.mesh))
		if out.Stats.Planned != st.plan {
			t.Errorf("%s: Planned = %v, want %v", st.name, out.Stats.Planned, st.plan)
		}
		if got := strings.Contains(fmt.Sprint(out.Rejected), "stray"); got != strings.Contains(st.mesh, "stray") {
			t.Errorf("%s: rejected %v", st.name, out.Rejected)
		}
		sameAsFresh(t, out, st.mesh)
	}
}
