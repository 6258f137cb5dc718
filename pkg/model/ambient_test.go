package model_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func ambientPod(ns, name, ip, node, sa string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, ServiceAccountName: sa},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
}

func gateway(ns, name, class string, labels map[string]string) *gatewayv1.Gateway {
	return &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: gatewayv1.ObjectName(class)}}
}

func labeledService(ns, name string, labels map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "tcp", Port: 80}}}}
}

// ambientMesh: namespace "mesh" is ambient and bound to waypoint "wp";
// namespace "plain" is not in the mesh.
func ambientMesh(t *testing.T, extra ...runtime.Object) *model.Snapshot {
	t.Helper()
	b := model.NewBuilder(model.Options{TrustDomain: "example.org"})
	objs := []runtime.Object{
		namespace("mesh", map[string]string{model.LabelDataplaneMode: "ambient", model.LabelUseWaypoint: "wp"}),
		namespace("plain", nil),
		gateway("mesh", "wp", model.DefaultWaypointClass, nil),
		ambientPod("mesh", "wp-0", "10.0.0.100", "n1", "wp", map[string]string{model.LabelGatewayName: "wp"}),
		ambientPod("mesh", "a", "10.0.0.1", "n1", "sa-a", nil),
		ambientPod("mesh", "out", "10.0.0.2", "n1", "", map[string]string{model.LabelDataplaneMode: "none"}),
		ambientPod("plain", "in", "10.0.0.3", "n2", "", map[string]string{model.LabelDataplaneMode: "ambient"}),
		ambientPod("plain", "b", "10.0.0.4", "n2", "", nil),
	}
	for _, o := range append(objs, extra...) {
		must(t, b.Add(o, model.Origin{}))
	}
	return b.Build()
}

func workload(t *testing.T, v *model.View, ns, name string) *model.Workload {
	t.Helper()
	for _, w := range v.Workloads() {
		if w.Namespace == ns && w.Name == name {
			return w
		}
	}
	t.Fatalf("no workload %s/%s", ns, name)
	return nil
}

func TestCaptured_PodLabelBeatsNamespaceAndWaypointPodsAreNot(t *testing.T) {
	v := ambientMesh(t).View()
	for _, c := range []struct {
		ns, name string
		want     bool
		why      string
	}{
		{"mesh", "a", true, "namespace mesh is labeled"},
		{"mesh", "out", false, "labeled istio.io/dataplane-mode=none"},
		{"plain", "in", true, "the pod is labeled istio.io/dataplane-mode=ambient"},
		{"plain", "b", false, "not labeled"},
		{"mesh", "wp-0", false, "is a waypoint"},
	} {
		got, why := v.Captured(workload(t, v, c.ns, c.name))
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s/%s: captured=%v (%s), want %v (%s)", c.ns, c.name, got, why, c.want, c.why)
		}
	}
}

func TestWaypoint_AddressesIdentityAndWaypointFor(t *testing.T) {
	class := &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: model.DefaultWaypointClass, Labels: map[string]string{model.LabelWaypointFor: "workload"}}}
	own := gateway("mesh", "own", model.DefaultWaypointClass, map[string]string{model.LabelWaypointFor: "all"})
	other := gateway("mesh", "not-a-waypoint", "istio", nil)
	v := ambientMesh(t, class, own, other).View()
	wp := v.Waypoint("mesh", "wp")
	if wp == nil || wp.For != model.WaypointForWorkload || len(wp.Addresses) != 1 || wp.Addresses[0] != "10.0.0.100" || wp.ServiceAccount != "wp" {
		t.Fatalf("wp = %+v: waypoint-for comes from the class, addresses from the gateway-name pods", wp)
	}
	if v.WaypointIdentity(wp) != "spiffe://example.org/ns/mesh/sa/wp" {
		t.Fatalf("identity %s", v.WaypointIdentity(wp))
	}
	if o := v.Waypoint("mesh", "own"); o == nil || o.For != model.WaypointForAll || o.Problem == "" {
		t.Fatalf("own = %+v: the Gateway's label beats the class; no address is a problem", o)
	}
	if v.Waypoint("mesh", "not-a-waypoint") != nil {
		t.Fatal("a Gateway of another class is not a waypoint")
	}
}

func TestBinding_OwnLabelBeatsNamespaceAndNoneOptsOut(t *testing.T) {
	snap := ambientMesh(t,
		labeledService("mesh", "inherits", nil),
		labeledService("mesh", "optout", map[string]string{model.LabelUseWaypoint: "none"}),
		labeledService("mesh", "elsewhere", map[string]string{model.LabelUseWaypoint: "wp2", model.LabelUseWaypointNamespace: "plain"}),
		labeledService("plain", "unbound", nil),
		gateway("plain", "wp2", model.DefaultWaypointClass, nil),
	)
	v := snap.View()
	svc := func(ns, name string) *model.Service { return v.Service(name + "." + ns + ".svc.cluster.local") }

	if b := v.ServiceWaypoint(svc("mesh", "inherits")); !b.Bound || b.Waypoint == nil || b.Waypoint.Name != "wp" || b.Via.Kind != "Namespace" {
		t.Errorf("inherits: %+v, want the namespace's waypoint", b)
	}
	if b := v.ServiceWaypoint(svc("mesh", "optout")); b.Bound {
		t.Errorf("optout: %+v, want none", b)
	}
	if b := v.ServiceWaypoint(svc("mesh", "elsewhere")); !b.Bound || b.Waypoint == nil || b.Waypoint.Namespace != "plain" || b.Via.Kind != "Service" {
		t.Errorf("elsewhere: %+v, want plain/wp2 by its own labels", b)
	}
	if b := v.ServiceWaypoint(svc("plain", "unbound")); b.Bound || b.Problem != "" {
		t.Errorf("unbound: %+v", b)
	}
}

func TestBinding_MissingWaypointFailsClosedAndWaypointForFilters(t *testing.T) {
	snap := ambientMesh(t,
		labeledService("mesh", "ghost", map[string]string{model.LabelUseWaypoint: "nope"}),
		gateway("mesh", "svc-only", model.DefaultWaypointClass, nil),
		ambientPod("mesh", "pinned", "10.0.0.9", "n1", "", map[string]string{model.LabelUseWaypoint: "svc-only"}),
	)
	v := snap.View()
	b := v.ServiceWaypoint(v.Service("ghost.mesh.svc.cluster.local"))
	if !b.Bound || b.Waypoint != nil || !strings.Contains(b.Problem, "does not exist") {
		t.Errorf("ghost: %+v, want bound to nothing (fail closed) with a problem", b)
	}
	// The pod names a waypoint for services only: its own label is ignored, with a note.
	b = v.WorkloadWaypoint(workload(t, v, "mesh", "pinned"))
	if b.Bound || !strings.Contains(b.Problem, "does not handle workloads") {
		t.Errorf("pinned: %+v", b)
	}
	// A namespace label for a service waypoint does not bind workloads, silently.
	if b := v.WorkloadWaypoint(workload(t, v, "mesh", "a")); b.Bound || b.Problem != "" {
		t.Errorf("a: %+v", b)
	}
}

func TestAmbientLookupsAreTracked(t *testing.T) {
	deps := model.Deps{}
	snap := ambientMesh(t)
	v := snap.TrackedView(deps)
	v.NodeWorkloads("n1")
	v.Waypoint("mesh", "wp")
	v.ServiceWaypoint(&model.Service{Ref: model.ObjectRef{Kind: "Service", Namespace: "plain", Name: "x"}, Labels: map[string]string{model.LabelUseWaypoint: "later"}})
	for _, k := range []string{"node:n1", "waypoint:mesh/wp", "ns:plain", "waypoint:plain/later"} {
		if _, ok := deps[k]; !ok {
			t.Errorf("lookup not recorded: %s (have %v)", k, deps)
		}
	}
	// Adding the missing waypoint changes what the binding depended on.
	again := ambientMesh(t, gateway("plain", "later", model.DefaultWaypointClass, nil))
	if !deps.Changed(again) {
		t.Error("a new waypoint must invalidate builds that looked it up and found nothing")
	}
	if nodes := snap.View().Nodes(); strings.Join(nodes, ",") != "n1,n2" {
		t.Errorf("nodes %v", nodes)
	}
}

func TestSPIFFEID(t *testing.T) {
	if got := model.SPIFFEID("cluster.local", "ns", "sa"); got != "spiffe://cluster.local/ns/ns/sa/sa" {
		t.Fatal(got)
	}
}
