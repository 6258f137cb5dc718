package model

import (
	"maps"
	"slices"
	"strconv"
	"strings"
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
// recorded all the same, with no revision.
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
}
