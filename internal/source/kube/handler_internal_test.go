package kube

import (
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	metav1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestUpdatesTheModelDoesNotReadAreIgnored: an update that changes only
// what the model does not read (aeraki's own status on a MetaRouter, a
// Pod's conditions) does not mark the source dirty, so it does not
// restart the debounce; a spec change, or a Pod's IP, does.
func TestUpdatesTheModelDoesNotReadAreIgnored(t *testing.T) {
	s := &Source{dirty: make(chan struct{}, 1), kindIdx: model.NewKindIndex(nil), pending: map[string]pendingObject{}}
	active := new(atomic.Bool)
	active.Store(true)
	h := s.handler(schema.GroupVersionKind{Kind: "Pod"}, active)
	dirty := func() bool {
		select {
		case <-s.dirty:
			return true
		default:
			return false
		}
	}
	router := func(rv, host string, accepted metav1.ConditionStatus) *metav1alpha1.MetaRouter {
		mr := &metav1alpha1.MetaRouter{TypeMeta: metav1.TypeMeta{APIVersion: "metaprotocol.aeraki.io/v1alpha1", Kind: "MetaRouter"},
			ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", ResourceVersion: rv}}
		mr.Spec.Hosts = []string{host}
		mr.Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: accepted, Reason: "Accepted"}}
		return mr
	}
	pod := func(rv, ip, condition string) *corev1.Pod {
		return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: rv},
			Status: corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodConditionType(condition), Status: corev1.ConditionTrue}}}}
	}
	for _, tc := range []struct {
		name     string
		old, new any
		want     bool
	}{
		{"status written by aeraki", router("1", "a", metav1.ConditionUnknown), router("2", "a", metav1.ConditionTrue), false},
		{"spec edited", router("1", "a", metav1.ConditionTrue), router("2", "b", metav1.ConditionTrue), true},
		{"resync", router("1", "a", metav1.ConditionTrue), router("1", "b", metav1.ConditionTrue), false},
		{"pod condition", pod("1", "10.0.0.1", "Ready"), pod("2", "10.0.0.1", "ContainersReady"), false},
		{"pod IP", pod("1", "10.0.0.1", "Ready"), pod("2", "10.0.0.2", "Ready"), true},
	} {
		h.OnUpdate(tc.old, tc.new)
		if got := dirty(); got != tc.want {
			t.Errorf("%s: dirty %v, want %v", tc.name, got, tc.want)
		}
	}
}
