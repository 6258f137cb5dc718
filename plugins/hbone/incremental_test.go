package hbone_test

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// snapshotOf loads the example with edit applied to its routing file.
func snapshotOf(t *testing.T, edit func(name, text string) string) *model.Snapshot {
	t.Helper()
	b := model.NewBuilder(model.Options{})
	files, _ := filepath.Glob("../../examples/ambient-dubbo/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.LoadBytes(filepath.Base(f), []byte(edit(filepath.Base(f), string(data))), b, file.Options{}) {
			if d.Severity == model.SeverityError {
				t.Fatal(d)
			}
		}
	}
	return b.Build()
}

// TestIncremental_MetaRouterChangeRebuildsOnlyTheWaypoint: ztunnels do not
// read routes, so a MetaRouter edit reuses them; the waypoint, whose L7
// chain depends on it, is rebuilt.
func TestIncremental_MetaRouterChangeRebuildsOnlyTheWaypoint(t *testing.T) {
	d, _ := dubbo.New(dubbo.Options{})
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	same := func(_, text string) string { return text }
	first := tr.Translate(snapshotOf(t, same))
	if first.Stats.ProxiesBuilt != 4 {
		t.Fatalf("first translation built %d proxies, want 3 ztunnels + 1 waypoint", first.Stats.ProxiesBuilt)
	}
	second := tr.Translate(snapshotOf(t, func(name, text string) string {
		if name == "routing.yaml" {
			return strings.Replace(text, "subset: v2\n  - name: say-goodbye-split", "subset: v1\n  - name: say-goodbye-split", 1)
		}
		return text
	}))
	if second.Stats.ProxiesBuilt != 1 || second.Stats.ProxiesReused != 3 {
		t.Fatalf("after a MetaRouter edit: built %d, reused %d; want only the waypoint rebuilt", second.Stats.ProxiesBuilt, second.Stats.ProxiesReused)
	}

	// What each build cost: the waypoint built every unit it consumed the
	// first time and, after the edit, only the edited service's; the
	// ztunnels keep the cost of the build they still serve.
	costs := func(out *translate.Output) map[string]translate.ProxyCost {
		m := map[string]translate.ProxyCost{}
		for _, p := range out.Proxies {
			m[p.ID] = p.Cost
		}
		return m
	}
	c1, c2 := costs(first), costs(second)
	for id, c := range c1 {
		if c.Build <= 0 || c.Build < c.Units || c.Build < c.Assemble {
			t.Errorf("%s: cost %+v, want a build time covering its units and assembly", id, c)
		}
		if !strings.HasPrefix(id, "waypoint/") {
			if c2[id] != c {
				t.Errorf("%s reused, but its cost changed from %+v to %+v", id, c, c2[id])
			}
			continue
		}
		if c.UnitsConsumed == 0 || c.UnitsBuilt != c.UnitsConsumed {
			t.Errorf("%s first build: %d units consumed, %d built; want every unit consumed built", id, c.UnitsConsumed, c.UnitsBuilt)
		}
		if w := c2[id]; w.UnitsConsumed != c.UnitsConsumed || w.UnitsBuilt != 1 {
			t.Errorf("%s after the edit: %d units consumed, %d built; want %d consumed, 1 built (the edited service's)", id, w.UnitsConsumed, w.UnitsBuilt, c.UnitsConsumed)
		}
	}
}

// churnTranslate translates testdata/in/bindings.yaml, then the same mesh
// with extra documents, and returns both outputs.
func churnTranslate(t *testing.T, extra string) (before, after *translate.Output) {
	t.Helper()
	d, _ := dubbo.New(dubbo.Options{})
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/in/bindings.yaml")
	if err != nil {
		t.Fatal(err)
	}
	load := func(text string) *model.Snapshot {
		b := model.NewBuilder(model.Options{})
		for _, d := range file.LoadBytes("bindings.yaml", []byte(text), b, file.Options{}) {
			if d.Severity == model.SeverityError {
				t.Fatal(d)
			}
		}
		return b.Build()
	}
	before = tr.Translate(load(string(data)))
	after = tr.Translate(load(string(data) + "\n---\n" + extra))
	return before, after
}

// changedNames lists, per proxy, the resources (type/name) that are new
// or differ between two translations.
func changedNames(before, after *translate.Output) map[string][]string {
	enc := func(p *plugin.Proxy) map[string]string {
		out := map[string]string{}
		for _, l := range p.Listeners {
			out["listener/"+l.GetName()] = l.String()
		}
		for _, c := range p.Clusters {
			out["cluster/"+c.GetName()] = c.String()
		}
		for _, e := range p.Endpoints {
			out["endpoints/"+e.GetClusterName()] = e.String()
		}
		return out
	}
	prev := map[string]map[string]string{}
	for _, p := range before.Proxies {
		prev[p.ID] = enc(p.Proxy)
	}
	res := map[string][]string{}
	for _, p := range after.Proxies {
		for name, text := range enc(p.Proxy) {
			if old, ok := prev[p.ID][name]; !ok || old != text {
				res[p.ID] = append(res[p.ID], name)
			}
		}
	}
	return res
}

// TestIncremental_PodAddedRebuildsOnlyItsNodesZtunnel: a pod joining the
// mesh on node-1 runs node-1's ztunnel build only; every other ztunnel is
// reused with the new shard of ztunnel_outbound_pods for the pod's /24
// swapped in (the one resource that names those pods), and no waypoint
// is rebuilt: none serves the pod.
func TestIncremental_PodAddedRebuildsOnlyItsNodesZtunnel(t *testing.T) {
	podAdded(t, "10.1.0.77", []string{"listener/" + hbone.ListenerZtunnelOutboundPods + "|10.1.0.0/24"})
}

// TestIncremental_PodInANewRangeAddsAShard: the first pod of a /24 adds
// its shard (listener and cluster) and the dispatcher's entry for it.
func TestIncremental_PodInANewRangeAddsAShard(t *testing.T) {
	shard := hbone.ListenerZtunnelOutboundPods + "|10.3.0.0/24"
	podAdded(t, "10.3.0.5", []string{"cluster/" + shard, "listener/" + hbone.ListenerZtunnelOutboundPods, "listener/" + shard})
}

func podAdded(t *testing.T, ip string, others []string) {
	t.Helper()
	before, after := churnTranslate(t, `apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shared}
spec: {nodeName: node-1, serviceAccountName: client}
status: {phase: Running, podIP: `+ip+`}
`)
	ztunnels := 0
	for _, p := range after.Proxies {
		if p.Kind == plugin.ProxyKindZtunnel {
			ztunnels++
		}
	}
	if ztunnels < 2 {
		t.Fatalf("the mesh has %d ztunnels: the test needs another node's", ztunnels)
	}
	if after.Stats.ProxiesBuilt != 1 || after.Stats.ProxiesReassembled != ztunnels-1 {
		t.Fatalf("built %d proxies, reassembled %d; want node-1's ztunnel built and the other %d ztunnels reassembled (stats %+v)",
			after.Stats.ProxiesBuilt, after.Stats.ProxiesReassembled, ztunnels-1, after.Stats)
	}
	changed := changedNames(before, after)
	for id, names := range changed {
		switch {
		case id == hbone.ZtunnelID("node-1"):
		case strings.HasPrefix(id, "ztunnel/"):
			sort.Strings(names)
			if strings.Join(names, " ") != strings.Join(others, " ") {
				t.Errorf("%s: %v changed, want only %v", id, names, others)
			}
		default:
			t.Errorf("%s: %v changed for a pod it does not serve", id, names)
		}
	}
	if len(changed[hbone.ZtunnelID("node-1")]) == 0 {
		t.Errorf("node-1's ztunnel did not change for a pod added on node-1")
	}
}

// TestIncremental_PodBoundToAWaypointRebuildsThatWaypoint: a pod bound to
// a waypoint for workloads rebuilds its node's ztunnel and that waypoint
// (which now serves its address), and no other waypoint.
func TestIncremental_PodBoundToAWaypointRebuildsThatWaypoint(t *testing.T) {
	before, after := churnTranslate(t, `apiVersion: v1
kind: Pod
metadata: {name: worker-9, namespace: shared, labels: {istio.io/use-waypoint: all-wp}}
spec: {nodeName: node-2, serviceAccountName: worker}
status: {phase: Running, podIP: 10.2.0.99}
`)
	if after.Stats.ProxiesBuilt != 2 {
		t.Fatalf("built %d proxies, want node-2's ztunnel and waypoint shared/all-wp (stats %+v)", after.Stats.ProxiesBuilt, after.Stats)
	}
	changed := changedNames(before, after)
	for id, names := range changed {
		if strings.HasPrefix(id, "waypoint/") && id != hbone.WaypointID("shared", "all-wp") {
			t.Errorf("%s: %v changed for a pod bound to shared/all-wp", id, names)
		}
	}
	if len(changed[hbone.WaypointID("shared", "all-wp")]) == 0 || len(changed[hbone.ZtunnelID("node-2")]) == 0 {
		t.Errorf("changed %v: want node-2's ztunnel and shared/all-wp among them", changed)
	}
}

// TestIncremental_ServiceAddedReassemblesTheZtunnels: a service joining
// the mesh changes ztunnel_outbound_services (its address goes to its
// chain) and brings its cluster and endpoints, all in the services piece
// every ztunnel includes: no ztunnel's build runs, each is reassembled
// with those three resources new, and its own ztunnel_outbound is
// unchanged. No waypoint serves the service, so none is rebuilt.
func TestIncremental_ServiceAddedReassemblesTheZtunnels(t *testing.T) {
	before, after := churnTranslate(t, `apiVersion: v1
kind: Service
metadata: {name: web-admin, namespace: apps, labels: {istio.io/use-waypoint: none}}
spec:
  clusterIP: 10.96.1.9
  selector: {app: web}
  ports:
  - {name: tcp-admin, port: 7000}
`)
	ztunnels := 0
	for _, p := range after.Proxies {
		if p.Kind == plugin.ProxyKindZtunnel {
			ztunnels++
		}
	}
	if ztunnels < 2 {
		t.Fatalf("the mesh has %d ztunnels: the test needs several", ztunnels)
	}
	if after.Stats.ProxiesBuilt != 0 || after.Stats.ProxiesReassembled != ztunnels {
		t.Fatalf("built %d proxies, reassembled %d; want none built and the %d ztunnels reassembled (stats %+v)",
			after.Stats.ProxiesBuilt, after.Stats.ProxiesReassembled, ztunnels, after.Stats)
	}
	const name = "outbound|7000||web-admin.apps.svc.cluster.local"
	want := []string{"cluster/" + name, "endpoints/" + name, "listener/" + hbone.ListenerZtunnelOutboundServices}
	changed := changedNames(before, after)
	for _, p := range after.Proxies {
		names := changed[p.ID]
		sort.Strings(names)
		if p.Kind != plugin.ProxyKindZtunnel {
			if len(names) > 0 {
				t.Errorf("%s: %v changed for a service it does not serve", p.ID, names)
			}
			continue
		}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %v changed, want only %v", p.ID, names, want)
		}
	}
}

// TestIncremental_ServiceBoundToAWaypointRebuildsThatWaypoint: a service
// bound to a waypoint rebuilds that waypoint (which now serves it) and no
// other; the ztunnels are reassembled, not built.
func TestIncremental_ServiceBoundToAWaypointRebuildsThatWaypoint(t *testing.T) {
	before, after := churnTranslate(t, `apiVersion: v1
kind: Service
metadata: {name: web-admin, namespace: apps, labels: {istio.io/use-waypoint: all-wp, istio.io/use-waypoint-namespace: shared}}
spec:
  clusterIP: 10.96.1.9
  selector: {app: web}
  ports:
  - {name: tcp-admin, port: 7000}
`)
	wp := hbone.WaypointID("shared", "all-wp")
	if after.Stats.ProxiesBuilt != 1 {
		t.Fatalf("built %d proxies, want only %s (stats %+v)", after.Stats.ProxiesBuilt, wp, after.Stats)
	}
	changed := changedNames(before, after)
	if len(changed[wp]) == 0 {
		t.Errorf("%s did not change for a service bound to it", wp)
	}
	for _, p := range after.Proxies {
		if p.Kind == plugin.ProxyKindWaypoint && p.ID != wp && len(changed[p.ID]) > 0 {
			t.Errorf("%s: %v changed for a service bound to %s", p.ID, changed[p.ID], wp)
		}
		if p.Kind == plugin.ProxyKindZtunnel && !slices.Contains(changed[p.ID], "listener/"+hbone.ListenerZtunnelOutboundServices) {
			t.Errorf("%s: %v changed, want %s among them (the service's address goes to the waypoint)", p.ID, changed[p.ID], hbone.ListenerZtunnelOutboundServices)
		}
	}
}
