package kube

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metav1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestTransform: the cache's transform sets the kind, drops managedFields
// and the last-applied annotation of every object, trims Pods and
// Services to what the model reads (model.Kind.Trim; a Service keeps its
// cluster IPs, which the waypoint controller reads from the cache), keeps
// everything else of the kinds plugins read (a MetaRouter's spec, and
// the status the status writer merges into), and leaves tombstones alone.
func TestTransform(t *testing.T) {
	scheme, err := NewScheme(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := transform(scheme, model.NewKindIndex(nil))
	bookkeeping := metav1.ObjectMeta{Name: "x", Namespace: "demo", ResourceVersion: "7", Labels: map[string]string{"app": "x"},
		Annotations:   map[string]string{lastApplied: "{}", "note": "kept"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	kept := func(m metav1.ObjectMeta) metav1.ObjectMeta {
		m.ManagedFields, m.Annotations = nil, map[string]string{"note": "kept"}
		return m
	}

	pod := &corev1.Pod{ObjectMeta: *bookkeeping.DeepCopy(), Spec: corev1.PodSpec{NodeName: "n", ServiceAccountName: "sa",
		Containers: []corev1.Container{{Name: "app", Image: "dubbo", Ports: []corev1.ContainerPort{{Name: "p", ContainerPort: 20880}}}, {Name: "side", Image: "envoy"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}}}
	out, err := tr(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "demo", ResourceVersion: "7", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{NodeName: "n", ServiceAccountName: "sa",
			Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "p", ContainerPort: 20880}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("Pod:\nwant %+v\ngot  %+v", want, out)
	}

	svc := &corev1.Service{ObjectMeta: *bookkeeping.DeepCopy(), Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"},
		Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone, Ports: []corev1.ServicePort{{Name: "tcp", Port: 80}}}}
	wantSvc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "demo", ResourceVersion: "7", Labels: map[string]string{"app": "x"}},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"}, Ports: []corev1.ServicePort{{Name: "tcp", Port: 80}}}}
	if out, _ := tr(svc); !reflect.DeepEqual(out, wantSvc) {
		t.Errorf("Service:\nwant %+v\ngot  %+v", wantSvc, out)
	}

	mr := &metav1alpha1.MetaRouter{ObjectMeta: *bookkeeping.DeepCopy(), Spec: metav1alpha1.MetaRouterSpec{Hosts: []string{"h"}},
		Status: conditions.Status{ObservedGeneration: 3, Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue}}}}
	wantMR := mr.DeepCopy()
	wantMR.TypeMeta, wantMR.ObjectMeta = metav1.TypeMeta{APIVersion: "metaprotocol.aeraki.io/v1alpha1", Kind: "MetaRouter"}, kept(mr.ObjectMeta)
	if out, _ := tr(mr); !reflect.DeepEqual(out, wantMR) {
		t.Errorf("MetaRouter:\nwant %+v\ngot  %+v", wantMR, out)
	}

	tomb := toolscache.DeletedFinalStateUnknown{Key: "demo/x", Obj: pod}
	if out, _ := tr(tomb); !reflect.DeepEqual(out, tomb) {
		t.Errorf("tombstone changed: %+v", out)
	}
}
