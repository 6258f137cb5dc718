package model

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// TestRevisionCountsOnlyStatusTheModelReads: a Pod that gets its IP is a
// change (the model reads it), a Pod condition or a status written on a
// MetaRouter is not.
func TestRevisionCountsOnlyStatusTheModelReads(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	before := revisionOfObject(pod, pod)
	withIP := pod.DeepCopy()
	withIP.Status.PodIP = "10.0.0.7"
	if revisionOfObject(withIP, withIP) == before {
		t.Error("a Pod that got its IP has the same revision")
	}
	ready := withIP.DeepCopy()
	ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if revisionOfObject(ready, ready) != revisionOfObject(withIP, withIP) {
		t.Error("a Pod condition changed the revision; the model does not read conditions")
	}
	mr := &metaprotocolv1alpha1.MetaRouter{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}
	written := mr.DeepCopy()
	written.Status.ObservedGeneration = 3
	if revisionOfObject(mr, mr) != revisionOfObject(written, written) {
		t.Error("a status write on a MetaRouter changed its revision")
	}
}
