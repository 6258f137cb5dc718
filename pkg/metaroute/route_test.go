package metaroute_test

import (
	"fmt"
	"strconv"
	"testing"
	"unsafe"

	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// TestBuildRoutesOwnTheirDestinations: the routes of one Build share one
// array of destinations and one of matches, yet each route's are its own
// (appending to one route's does not write over the next one's), the default route
// included, on both sides of a sidecar; every route names its field, past
// the tenth too; and a cluster named by several routes is named once.
func TestBuildRoutesOwnTheirDestinations(t *testing.T) {
	routes := ""
	for i := range 12 {
		routes += fmt.Sprintf(`
  - name: r%d
    match: {attributes: {method: {exact: m%d}}}
    route:
    - {destination: {host: demo, subset: v1}, weight: 50}
    - {destination: {host: demo, subset: v2}, weight: 50}`, i, i)
	}
	v := view(t, `
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: mr, namespace: ns}
spec:
  hosts: [demo]
  routes:`+routes)
	svc := v.Service("demo.ns.svc.cluster.local")
	ctx := plugin.NewBuildContext("test", v, plugin.RoleSidecarOutbound, svc, svc.Ports[0])
	ctx.MetaRouters = v.MetaRouters(svc.Hostname)
	got := metaroute.Build(ctx)
	if len(got) != 13 || got[12].Name != "default" || len(got[12].Destinations) != 1 {
		t.Fatalf("Build made %d routes, want 12 and the default: %+v", len(got), got)
	}
	// A cluster named again is made once (the name remembered).
	if unsafe.StringData(got[0].Destinations[0].Cluster) != unsafe.StringData(got[11].Destinations[0].Cluster) {
		t.Error("two routes to one subset were given two copies of its cluster name")
	}
	for i := range 12 {
		if want := "spec.routes[" + strconv.Itoa(i) + "]"; got[i].Field != want {
			t.Errorf("route %d: field %q, want %q", i, got[i].Field, want)
		}
		got[i].Destinations = append(got[i].Destinations, metaroute.Destination{Cluster: "appended"})
		got[i].Match = append(got[i].Match, metaroute.AttributeMatch{Name: "appended"})
	}
	for i := range 12 {
		if m := got[i].Match; len(m) != 2 || m[0] != (metaroute.AttributeMatch{Name: "method", Kind: metaroute.MatchExact, Value: "m" + strconv.Itoa(i)}) {
			t.Errorf("route %d matches %+v", i, m)
		}
	}
	for i, r := range got {
		want := []string{"outbound|20880|v1|demo.ns.svc.cluster.local", "outbound|20880|v2|demo.ns.svc.cluster.local", "appended"}
		if r.Name == "default" {
			want = []string{"outbound|20880||demo.ns.svc.cluster.local"}
		}
		if len(r.Destinations) != len(want) {
			t.Fatalf("route %d: %d destinations, want %d", i, len(r.Destinations), len(want))
		}
		for j, d := range r.Destinations {
			if d.Cluster != want[j] {
				t.Errorf("route %d destination %d: %q, want %q", i, j, d.Cluster, want[j])
			}
		}
	}

	in := plugin.NewBuildContext("test", v, plugin.RoleSidecarInbound, svc, svc.Ports[0])
	got = metaroute.Build(in)
	if len(got) != 1 || got[0].Name != "default" || len(got[0].Destinations) != 1 || got[0].Destinations[0].Cluster != "inbound|20880||" {
		t.Fatalf("inbound routes: %+v", got)
	}
	if got = append(got, metaroute.Route{Name: "appended"}); got[0].Destinations[0].Cluster != "inbound|20880||" {
		t.Errorf("appending a route wrote over the default route's destination: %+v", got)
	}
}

// TestWeightedClusters: one to three destinations, in order, with their
// weights, each cluster its own message.
func TestWeightedClusters(t *testing.T) {
	for n := range 4 {
		r := metaroute.Route{}
		for i := range n {
			r.Destinations = append(r.Destinations, metaroute.Destination{Cluster: "c" + strconv.Itoa(i), Weight: uint32(10 * (i + 1))})
		}
		wc := r.WeightedClusters()
		if len(wc.GetClusters()) != n {
			t.Fatalf("%d destinations: %d clusters", n, len(wc.GetClusters()))
		}
		for i, c := range wc.GetClusters() {
			if c.GetName() != "c"+strconv.Itoa(i) || c.GetWeight().GetValue() != uint32(10*(i+1)) {
				t.Errorf("%d destinations, cluster %d: %v", n, i, c)
			}
			if i > 0 && (c == wc.Clusters[i-1] || c.Weight == wc.Clusters[i-1].Weight) {
				t.Errorf("%d destinations: clusters %d and %d share a message", n, i-1, i)
			}
		}
	}
}

// TestValidateAllocatesNothingForAValidRouter: walking a valid router
// through an untracked view builds no field path (a finding does; see
// TestValidateFields).
func TestValidateAllocatesNothingForAValidRouter(t *testing.T) {
	v := view(t, `
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: mr, namespace: ns}
spec:
  hosts: [demo]
  routes:
  - name: hello
    match: {attributes: {method: {exact: sayHello}, interface: {prefix: org.apache}}}
    route:
    - {destination: {host: demo, subset: v2}, weight: 90}
    - {destination: {host: demo, subset: v1}, weight: 10}
  - name: default
    route: [{destination: {host: demo, subset: v1}}]
`)
	mr := router(t, v, "mr")
	if ds := metaroute.Validate(v, mr); len(ds) != 0 {
		t.Fatalf("findings on a valid router: %v", ds)
	}
	if n := testing.AllocsPerRun(100, func() { metaroute.Validate(v, mr) }); n != 0 {
		t.Errorf("Validate allocates %v times for a valid router, want 0", n)
	}
}
