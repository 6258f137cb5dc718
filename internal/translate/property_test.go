package translate_test

import (
	"context"
	"fmt"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// The property behind every reuse in the translator (units, proxies,
// assembled EnvoyFilters, core checks): after any sequence of changes, an
// incremental translation gives exactly what a fresh translator gives for
// the same snapshot. TestIncrementalEqualsFromScratch drives random
// sequences of adds, edits and deletes over a small generated mesh that
// every built-in plugin has something to build for (sidecar Dubbo, Thrift
// and Redis ports, ambient namespaces, aeraki and istiod waypoints, pods
// moving between nodes, routers valid and not) and compares the two after
// every step. Some steps are first translated with a context that ends
// part way (a signal mid-translation), which must leave the translator as
// it was.

// slot is one object of the generated mesh's universe: present with one
// of its variants, or absent.
type slot struct {
	key      string
	variants int
	yaml     func(v int) string
}

const (
	propNamespaces = 3 // mesh-0 (ambient, waypoint wp), mesh-1 (ambient), mesh-2 (sidecars): their defaults
	propServices   = 4 // per namespace
	propPods       = 2 // per service
)

// propUniverse lists every slot.
func propUniverse() []slot {
	var out []slot
	for n := range propNamespaces {
		ns := fmt.Sprintf("mesh-%d", n)
		out = append(out, slot{key: "ns/" + ns, variants: 3, yaml: func(v int) string {
			labels := []string{"{istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}", "{istio.io/dataplane-mode: ambient}", "{}"}[(v+n)%3]
			return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: %s}\n", ns, labels)
		}})
		if n < 2 {
			out = append(out, slot{key: "gw/" + ns, variants: 3, yaml: func(v int) string {
				class := []string{"aeraki-waypoint", "istio-waypoint", "aeraki-waypoint"}[v]
				forWhat := []string{"service", "service", "all"}[v]
				return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: %s, labels: {istio.io/waypoint-for: %s}}
spec:
  gatewayClassName: %s
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
`, ns, forWhat, class)
			}})
			out = append(out, slot{key: "wppod/" + ns, variants: 2, yaml: func(v int) string {
				return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: wp-%d
  namespace: %s
  labels: {gateway.networking.k8s.io/gateway-name: wp, istio.io/dataplane-mode: none}
spec: {nodeName: node-%d, serviceAccountName: wp}
status: {phase: Running, podIP: 10.244.%d.%d}
`, v, ns, v, 200+n, v+1)
			}})
		}
		for s := range propServices {
			name := fmt.Sprintf("s%d", s)
			host := fmt.Sprintf("%s.%s.svc.cluster.local", name, ns)
			other := fmt.Sprintf("s%d.%s.svc.cluster.local", (s+1)%propServices, ns)
			out = append(out, slot{key: "svc/" + ns + "/" + name, variants: 5, yaml: func(v int) string {
				// Mostly the service's own protocol; variant 4 changes it.
				port := []string{"{name: tcp-dubbo, port: 20880}", "{name: tcp-metaprotocol-thrift-x, port: 9090}", "{name: tcp-redis, port: 6379}", "{name: tcp-dubbo, port: 20880}"}[s%4]
				labels := "{}"
				switch v {
				case 1:
					port += ", {name: tcp-dubbo-extra, port: 20881}"
				case 2:
					labels = "{istio.io/use-waypoint: none}"
				case 3:
					port = strings.Replace(port, ", port: ", ", port: 1", 1) // 20880 -> 120880 is too big: use 1xxxx
					port = strings.Replace(port, "port: 120880", "port: 10880", 1)
				case 4:
					port = "{name: tcp-dubbo, port: 20880}"
				}
				return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s, labels: %s}
spec:
  clusterIP: 10.96.%d.%d
  selector: {app: %s}
  ports: [%s]
`, name, ns, labels, n, s+1, name, port)
			}})
			out = append(out, slot{key: "dr/" + ns + "/" + name, variants: 3, yaml: func(v int) string {
				subsets := []string{"[{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]", "[{name: v1, labels: {version: v1}}]", "[{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}, trafficPolicy: {connectionPool: {tcp: {connectTimeout: 3s}}}}]"}[v]
				return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: %s, namespace: %s}\nspec:\n  host: %s\n  subsets: %s\n", name, ns, host, subsets)
			}})
			out = append(out, slot{key: "mr/" + ns + "/" + name, variants: 5, yaml: func(v int) string {
				routes := []string{
					// sayHello to v2, the rest to v1.
					"  - {name: hello, match: {attributes: {method: {exact: sayHello}}}, route: [{destination: {host: " + host + ", subset: v2}}]}\n  - {name: rest, route: [{destination: {host: " + host + ", subset: v1}}]}\n",
					// A weighted split.
					"  - {name: split, route: [{destination: {host: " + host + ", subset: v1}, weight: 30}, {destination: {host: " + host + ", subset: v2}, weight: 70}]}\n",
					// To another service of the namespace.
					"  - {name: away, route: [{destination: {host: " + other + "}}]}\n",
					// A subset no DestinationRule defines.
					"  - {name: missing, route: [{destination: {host: " + host + ", subset: v9}}]}\n",
					// Weights that do not add up: rejected.
					"  - {name: bad, route: [{destination: {host: " + host + ", subset: v1}, weight: 30}, {destination: {host: " + host + ", subset: v2}, weight: 30}]}\n",
				}[v]
				return fmt.Sprintf("apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata: {name: %s, namespace: %s}\nspec:\n  hosts: [%s]\n  routes:\n%s", name, ns, host, routes)
			}})
			for p := range propPods {
				out = append(out, slot{key: fmt.Sprintf("pod/%s/%s-%d", ns, name, p), variants: 6, yaml: func(v int) string {
					phase := "Running"
					if v == 5 {
						phase = "Pending"
					}
					return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s-%d, namespace: %s, labels: {app: %s, version: v%d}}
spec: {nodeName: node-%d, serviceAccountName: %s}
status: {phase: %s, podIP: 10.%d.%d.%d}
`, name, p, ns, name, v%2+1, v%3, name, phase, 100+n, s, p+1)
				}})
			}
		}
	}
	out = append(out, slot{key: "gwclass", variants: 1, yaml: func(int) string {
		return "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: aeraki-waypoint}\nspec: {controllerName: aeraki.io/waypoint-controller}\n"
	}})
	// Last, so that one joining or leaving moves no other object's
	// document in the generated file (and so its origin and revision).
	for n := range 2 {
		ns := fmt.Sprintf("mesh-%d", n)
		// A client pod no service selects: joining, moving and leaving,
		// it changes only the mesh's pods (shared pieces swapped into
		// the other nodes' ztunnels); variant 2 binds it to the
		// namespace's waypoint by its own label.
		out = append(out, slot{key: "client/" + ns, variants: 3, yaml: func(v int) string {
			labels := "{app: client}"
			if v == 2 {
				labels = "{app: client, istio.io/use-waypoint: wp}"
			}
			return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %s, labels: %s}
spec: {nodeName: node-%d, serviceAccountName: client}
status: {phase: Running, podIP: 10.%d.9.9}
`, ns, labels, v%2, 100+n)
		}})
	}
	return out
}

// propMesh is the state of the universe: the variant of each present slot.
type propMesh map[string]int

func (m propMesh) snapshot(t *testing.T, universe []slot) *model.Snapshot {
	t.Helper()
	var docs []string
	for _, s := range universe {
		if v, ok := m[s.key]; ok {
			docs = append(docs, s.yaml(v))
		}
	}
	b := model.NewBuilder(model.Options{Kinds: builtinKinds(t)})
	for _, d := range file.LoadBytes("mesh.yaml", []byte(strings.Join(docs, "---\n")), b, file.Options{}) {
		if d.Severity == model.SeverityError {
			t.Fatalf("generated mesh: %s\n%s", d, strings.Join(docs, "---\n"))
		}
	}
	return b.Build()
}

// mutate applies one random add, edit or delete and says what it did.
func (m propMesh) mutate(r *rand.Rand, universe []slot) string {
	s := universe[r.IntN(len(universe))]
	v, present := m[s.key]
	switch {
	case !present:
		m[s.key] = r.IntN(s.variants)
		return "add " + s.key
	case r.IntN(3) == 0:
		delete(m, s.key)
		return "delete " + s.key
	case s.variants > 1:
		m[s.key] = (v + 1 + r.IntN(s.variants-1)) % s.variants
		return fmt.Sprintf("edit %s %d->%d", s.key, v, m[s.key])
	default:
		delete(m, s.key)
		return "delete " + s.key
	}
}

// builtinKinds are the kinds the builtin plugins bring, for snapshots of
// meshes with their objects (RedisServices, DubboAuthorizationPolicies).
func builtinKinds(t testing.TB) []model.Kind {
	t.Helper()
	reg, err := plugin.NewRegistry(builtin.Plugins()...)
	if err != nil {
		t.Fatal(err)
	}
	return reg.Kinds()
}

func builtinTranslator(t testing.TB) *translate.Translator {
	t.Helper()
	plugins := builtin.Plugins()
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

// digest writes everything a translation hands on (to the server, render
// and trace) as lines of text, deterministically.
func digest(out *translate.Output) []string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	msg := func(m proto.Message) string {
		if m == nil {
			return "<nil>"
		}
		// Readable where the types resolve; the binary form where not.
		if b, err := (protojson.MarshalOptions{}).Marshal(m); err == nil {
			return string(b)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return "marshal error: " + err.Error()
		}
		return fmt.Sprintf("%x", b)
	}
	for _, ef := range out.EnvoyFilters {
		add("envoyfilter %s/%s labels=%v annotations=%v sources=%v revision=%v", ef.Namespace, ef.Name, ef.Labels, ef.Annotations(), ef.Sources, ef.Revision)
		add("  spec %s", msg(ef.Spec()))
	}
	for _, u := range out.Units {
		add("unit %s plugin=%s role=%v waypoint=%v profile=%s failedClosed=%v stale=%v skipped=%v objects=%v", u.Key, u.Plugin, u.Role, u.Waypoint, u.Profile.Name, u.FailedClosed, u.Stale, u.Skipped, u.Objects)
		add("  routes %s", msg(u.RouteConfig))
		for _, f := range u.Filters {
			add("  filter %s", msg(f))
		}
	}
	for _, p := range out.Proxies {
		add("proxy %s plugin=%s kind=%v profile=%s stale=%v revision=%v", p.ID, p.Plugin, p.Kind, p.Profile.Name, p.Stale, p.Revision)
		for _, r := range p.Listeners {
			add("  lds %s %s", r.Name, msg(r))
		}
		for _, r := range p.Routes {
			add("  rds %s %s", r.Name, msg(r))
		}
		for _, r := range p.Clusters {
			add("  cds %s %s", r.Name, msg(r))
		}
		for _, r := range p.Endpoints {
			add("  eds %s %s", r.ClusterName, msg(r))
		}
		for _, r := range p.Secrets {
			add("  sds %s %s", r.Name, msg(r))
		}
		for _, d := range p.Diagnostics {
			add("  diagnostic %v", d)
		}
	}
	for _, d := range out.Diagnostics {
		add("diagnostic %v", d)
	}
	for _, r := range out.Rejected {
		add("rejected %s", r.Key())
	}
	add("snapshot %d objects", len(out.Snapshot.Objects()))
	return lines
}

// firstDifference describes where two digests part (and the next few
// lines that differ, since a proxy's revision line differs before its
// resources do).
func firstDifference(got, want []string) string {
	var diffs []string
	for i := range max(len(got), len(want)) {
		g, w := "<end>", "<end>"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			// Show where in the line they part.
			at := 0
			for at < len(g) && at < len(w) && g[at] == w[at] {
				at++
			}
			from := max(0, at-150)
			diffs = append(diffs, fmt.Sprintf("line %d, from byte %d:\nincremental:  %.400s\nfrom scratch: %.400s", i, from, g[min(from, len(g)):], w[min(from, len(w)):]))
			if len(diffs) == 4 {
				break
			}
		}
	}
	return strings.Join(diffs, "\n")
}

// stopAfter is a context that ends after its Done channel has been
// looked at n times: a signal arriving part way through a translation,
// at a point the test chooses.
type stopAfter struct {
	context.Context
	n    atomic.Int64
	done chan struct{}
	once atomic.Bool
}

func newStopAfter(n int64) *stopAfter {
	c := &stopAfter{Context: context.Background(), done: make(chan struct{})}
	c.n.Store(n)
	return c
}

func (c *stopAfter) Done() <-chan struct{} {
	if c.n.Add(-1) < 0 && c.once.CompareAndSwap(false, true) {
		close(c.done)
	}
	return c.done
}

func (c *stopAfter) Err() error {
	select {
	case <-c.Done():
		return context.Canceled
	default:
		return nil
	}
}

func TestIncrementalEqualsFromScratch(t *testing.T) {
	universe := propUniverse()
	var clients []slot
	for _, s := range universe {
		if strings.HasPrefix(s.key, "client/") {
			clients = append(clients, s)
		}
	}
	seeds := []uint64{1, 2, 3, 4}
	random := uint64(time.Now().UnixNano())
	seeds = append(seeds, random)
	steps := 25
	if testing.Short() {
		seeds, steps = seeds[:1], 10
	}
	// Shared pieces (plugin.SharedPiece) are exercised too (counted in
	// the log); TestIncrementalEqualsFromScratchUnderPodChurn makes sure
	// of it.
	var sharedReused, reassembled int
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 15))
			// Start from about half the universe.
			m := propMesh{}
			for _, s := range universe {
				if r.IntN(2) == 0 {
					m[s.key] = r.IntN(s.variants)
				}
			}
			tr := builtinTranslator(t)
			var history []string
			reused, fromChanges := 0, 0
			for step := range steps {
				if step > 0 {
					if r.IntN(3) == 0 {
						// Often a step is a client pod's churn alone (the
						// ztunnel churn of a real mesh).
						history = append(history, fmt.Sprintf("step %d: %s", step, m.mutate(r, clients)))
					} else {
						for range 1 + r.IntN(3) {
							history = append(history, fmt.Sprintf("step %d: %s", step, m.mutate(r, universe)))
						}
					}
				}
				snap := m.snapshot(t, universe)
				if r.IntN(4) == 0 {
					ctx := newStopAfter(int64(r.IntN(60)))
					if out, err := tr.TranslateContext(ctx, snap); err == nil {
						history = append(history, fmt.Sprintf("step %d: translation not stopped (it was short)", step))
						_ = out
					} else {
						history = append(history, fmt.Sprintf("step %d: translation stopped part way", step))
					}
				}
				inc := tr.Translate(snap)
				reused += inc.Stats.UnitsReused + inc.Stats.ProxiesReused
				if !inc.Stats.FullCheck {
					fromChanges++
				}
				sharedReused += inc.Stats.SharedReused
				reassembled += inc.Stats.ProxiesReassembled
				scratch := builtinTranslator(t).Translate(snap)
				if d := firstDifference(digest(inc), digest(scratch)); d != "" {
					t.Fatalf("seed %d, step %d: the incremental translation differs from a fresh one at %s\nchanges so far:\n%s", seed, step, d, strings.Join(history, "\n"))
				}
			}
			if reused == 0 {
				t.Fatalf("seed %d: nothing was ever reused: the test does not exercise reuse", seed)
			}
			if fromChanges == 0 {
				t.Fatalf("seed %d: no translation worked from a change set: the test does not exercise them", seed)
			}
			kinds := map[string]bool{}
			for _, h := range history {
				f := strings.Fields(h)
				if len(f) > 2 {
					kinds[f[2]] = true
				}
			}
			t.Logf("seed %d: %d steps (%d from a change set), %d reused builds, operations %v; so far %d shared pieces reused, %d proxies reassembled", seed, steps, fromChanges, reused, sortedKeys(kinds), sharedReused, reassembled)
		})
	}
}

// TestIncrementalEqualsFromScratchUnderPodChurn is the property under
// ztunnel churn: client pods no service selects join, move between
// nodes, bind to a waypoint and leave, in every order, over the whole
// universe with pods on every node. Each change reaches the other nodes'
// ztunnels only as a shared piece swapped in (their builds reused), and
// the result must still equal a fresh translation's.
func TestIncrementalEqualsFromScratchUnderPodChurn(t *testing.T) {
	universe := propUniverse()
	m := propMesh{}
	for i, s := range universe {
		if !strings.HasPrefix(s.key, "client/") {
			m[s.key] = i % s.variants
		}
	}
	tr := builtinTranslator(t)
	tr.Translate(m.snapshot(t, universe))
	steps := []struct {
		key     string
		variant int // -1 deletes
	}{
		{"client/mesh-0", 0}, {"client/mesh-1", 1}, {"client/mesh-0", 1}, {"client/mesh-0", 2},
		{"client/mesh-1", 2}, {"client/mesh-1", -1}, {"client/mesh-0", 0}, {"client/mesh-0", -1},
		{"client/mesh-1", 0},
	}
	reassembled, built := 0, 0
	for i, st := range steps {
		if st.variant < 0 {
			delete(m, st.key)
		} else {
			m[st.key] = st.variant
		}
		snap := m.snapshot(t, universe)
		inc := tr.Translate(snap)
		if d := firstDifference(digest(inc), digest(builtinTranslator(t).Translate(snap))); d != "" {
			t.Fatalf("step %d (%s variant %d): the incremental translation differs from a fresh one at %s", i, st.key, st.variant, d)
		}
		reassembled += inc.Stats.ProxiesReassembled
		built += inc.Stats.ProxiesBuilt
	}
	if reassembled == 0 {
		t.Fatalf("no proxy was reassembled (%d built) over %d pod changes: the test does not exercise shared pieces", built, len(steps))
	}
	t.Logf("%d pod changes: %d proxies built, %d reassembled", len(steps), built, reassembled)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRetranslationKeepsWaypointUnits: translating the same snapshot
// again reuses every waypoint and reports the waypoints' L7 chains among
// the units as the first translation did (they used to drop out, and be
// rebuilt the next time the waypoint changed).
func TestRetranslationKeepsWaypointUnits(t *testing.T) {
	universe := propUniverse()
	m := propMesh{}
	for _, s := range universe {
		m[s.key] = 0
	}
	snap := m.snapshot(t, universe)
	tr := builtinTranslator(t)
	first := tr.Translate(snap)
	waypointUnits := 0
	for _, u := range first.Units {
		if u.Role == plugin.RoleWaypoint {
			waypointUnits++
		}
	}
	if waypointUnits == 0 {
		t.Fatal("the mesh has no waypoint units: the test checks nothing")
	}
	second := tr.Translate(snap)
	if second.Stats.ProxiesBuilt != 0 || second.Stats.UnitsBuilt != 0 {
		t.Fatalf("the same snapshot again built %d proxies and %d units, want everything reused", second.Stats.ProxiesBuilt, second.Stats.UnitsBuilt)
	}
	if d := firstDifference(digest(second), digest(first)); d != "" {
		t.Fatalf("the same snapshot translated again differs at %s", d)
	}
}
