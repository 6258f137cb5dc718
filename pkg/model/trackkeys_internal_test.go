package model

import (
	"maps"
	"slices"
	"testing"

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
