package model

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestTrackedKeysAreTheIndexKeys: the keys a view records from parts in a
// buffer are the keys the snapshot's indexes are revisioned under
// (hostKey and the others, GroupKind.String's form of the kind), and
// LookupService records what Service(ResolveHost(...)) would.
func TestTrackedKeysAreTheIndexKeys(t *testing.T) {
	snap := NewBuilder(Options{DomainSuffix: "cluster.local"}).Build()
	recorded := func(read func(v *View)) []string {
		deps := Deps{}
		read(snap.TrackedView(deps))
		return slices.Sorted(maps.Keys(deps))
	}
	for _, gk := range []schema.GroupKind{{Kind: "Service"}, {Group: "metaprotocol.aeraki.io", Kind: "MetaRouter"}} {
		want := []string{routingPrefix + gk.String() + "@h.ns.svc.cluster.local"}
		if got := recorded(func(v *View) { v.ObjectsForHost(gk, "h.ns.svc.cluster.local") }); !slices.Equal(got, want) || want[0] != hostKey(gk, "h.ns.svc.cluster.local") {
			t.Errorf("%v by host: recorded %q, want %q (hostKey %q)", gk, got, want, hostKey(gk, "h.ns.svc.cluster.local"))
		}
		want = []string{routingPrefix + gk.String() + "#ns"}
		if got := recorded(func(v *View) { v.ObjectsInNamespace(gk, "ns") }); !slices.Equal(got, want) || want[0] != namespaceKey(gk, "ns") {
			t.Errorf("%v by namespace: recorded %q, want %q", gk, got, want)
		}
		want = []string{routingPrefix + gk.String()}
		if got := recorded(func(v *View) { v.ObjectsOfKind(gk) }); !slices.Equal(got, want) || want[0] != listKey(gk) {
			t.Errorf("%v list: recorded %q, want %q", gk, got, want)
		}
	}
	for _, c := range []struct{ host, ns string }{{" Reviews ", "bookinfo"}, {"reviews.bookinfo", "bookinfo"}, {"*", "ns"}, {"r", ""}, {"", "ns"}} {
		want := recorded(func(v *View) {
			v.Service(v.ResolveHost(c.host, c.ns))
			v.Service(c.host)
		})
		if got := recorded(func(v *View) { v.LookupService(c.host, c.ns) }); !slices.Equal(got, want) {
			t.Errorf("LookupService(%q, %q) recorded %q, want %q", c.host, c.ns, got, want)
		}
	}
	if got := recorded(func(v *View) { v.ApplicationProtocol("dubbo") }); !slices.Equal(got, []string{protocolKey("dubbo")}) {
		t.Errorf("ApplicationProtocol recorded %q", got)
	}
}

// TestTrackedKeysShareTheSnapshotsStrings: views of one snapshot record a
// key the snapshot holds as the snapshot's own string (from its base, and
// from the changes of a derived snapshot), so the dependencies of the
// many units that read it hold no copies; a key it does not hold is
// recorded all the same, with no revision, and as one string too when it
// is a namespace's of a routing kind.
func TestTrackedKeysShareTheSnapshotsStrings(t *testing.T) {
	svc := func(name, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880}}}}
	}
	b := NewBuilder(Options{})
	// Enough services that an edit of one stays a change on top of the
	// base rather than a new base.
	for i := range 100 {
		if err := b.Add(svc("s"+strconv.Itoa(i), "10.0.1."+strconv.Itoa(i)), Origin{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(svc("a", "10.0.0.1"), Origin{}); err != nil {
		t.Fatal(err)
	}
	built := b.Build()
	e := built.Edit()
	if err := e.Put(svc("b", "10.0.0.2"), Origin{}); err != nil {
		t.Fatal(err)
	}
	derived := e.Build()
	if derived.revs.delta == nil {
		t.Fatal("the edit made no changes on top of a base")
	}
	keyOf := func(snap *Snapshot, read func(v *View)) (string, Revision) {
		deps := Deps{}
		read(snap.TrackedView(deps))
		if len(deps) != 1 {
			t.Fatalf("recorded %v, want one key", deps)
		}
		for k, r := range deps {
			return k, r
		}
		return "", ""
	}
	for _, c := range []struct {
		snap *Snapshot
		host string
	}{{built, "a.ns.svc.cluster.local"}, {derived, "a.ns.svc.cluster.local"}, {derived, "b.ns.svc.cluster.local"}} {
		k1, r := keyOf(c.snap, func(v *View) { v.Service(c.host) })
		k2, _ := keyOf(c.snap, func(v *View) { v.LookupService(strings.Split(c.host, ".")[0], "ns") })
		if r == "" || r != c.snap.Revision(k1) {
			t.Errorf("%s: recorded revision %q, the snapshot has %q", k1, r, c.snap.Revision(k1))
		}
		if unsafe.StringData(k1) != unsafe.StringData(k2) {
			t.Errorf("%s: two views recorded two copies of the key", k1)
		}
	}
	if k, r := keyOf(derived, func(v *View) { v.Service("c.ns.svc.cluster.local") }); k != "svc:c.ns.svc.cluster.local" || r != "" {
		t.Errorf("a missing service recorded %q at %q", k, r)
	}
	// A namespace without objects of a routing kind (one the snapshot
	// reads or not): recorded without a revision, as one string for the
	// views of a snapshot and of those derived from it.
	for _, gk := range []schema.GroupKind{gkVirtualService, {Group: "example.io", Kind: "Policy"}} {
		for _, ns := range []string{"ns", "istio-system"} {
			read := func(v *View) { v.ObjectsInNamespace(gk, ns) }
			k1, r := keyOf(built, read)
			k2, _ := keyOf(derived, read)
			k3, _ := keyOf(built, read)
			if k1 != namespaceKey(gk, ns) || r != "" {
				t.Errorf("%v in %s: recorded %q at %q", gk, ns, k1, r)
			}
			if unsafe.StringData(k1) != unsafe.StringData(k2) || unsafe.StringData(k1) != unsafe.StringData(k3) {
				t.Errorf("%v in %s: views recorded copies of %s", gk, ns, k1)
			}
		}
	}
}

// TestUnsetKeysFromManyGoroutines: views of one snapshot built on several
// goroutines (as units are) record the same missing namespace keys, each
// as one string (run with -race).
func TestUnsetKeysFromManyGoroutines(t *testing.T) {
	snap := NewBuilder(Options{}).Build()
	gk := schema.GroupKind{Group: "example.io", Kind: "Policy"}
	const workers, namespaces = 4, 50
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range namespaces {
				deps := Deps{}
				snap.TrackedView(deps).ObjectsInNamespace(gk, "ns-"+strconv.Itoa(i))
				for k := range deps {
					got[w] = append(got[w], k)
				}
			}
		}()
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		for i := range namespaces {
			if got[w][i] != got[0][i] || unsafe.StringData(got[w][i]) != unsafe.StringData(got[0][i]) {
				t.Fatalf("worker %d recorded %q apart from worker 0's %q", w, got[w][i], got[0][i])
			}
		}
	}
}
