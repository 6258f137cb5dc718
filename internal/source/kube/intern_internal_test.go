package kube

import (
	"fmt"
	"reflect"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	metav1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

func sameMap[V any](a, b map[string]V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// TestInternSharesMapsOfTheSameContent: objects whose labels, subsets'
// labels or routes' attribute matches have the same content share one
// map; maps of another content (even one that concatenates alike) are
// left alone, and no content changes.
func TestInternSharesMapsOfTheSameContent(t *testing.T) {
	in := newInterner()
	pod := func(labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: labels}}
	}
	a, b := pod(map[string]string{"app": "x", "version": "v1"}), pod(map[string]string{"version": "v1", "app": "x"})
	c, d := pod(map[string]string{"a": "bc"}), pod(map[string]string{"ab": "c"})
	for _, p := range []*corev1.Pod{a, b, c, d} {
		in.intern(p)
	}
	if !sameMap(a.Labels, b.Labels) {
		t.Error("pods with the same labels do not share them")
	}
	if sameMap(c.Labels, d.Labels) || !reflect.DeepEqual(c.Labels, map[string]string{"a": "bc"}) || !reflect.DeepEqual(d.Labels, map[string]string{"ab": "c"}) {
		t.Errorf("labels of another content were shared or changed: %v %v", c.Labels, d.Labels)
	}

	dr := func() *networkingv1.DestinationRule {
		return &networkingv1.DestinationRule{Spec: networkingv1alpha3.DestinationRule{Subsets: []*networkingv1alpha3.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}, nil}}}
	}
	x, y := dr(), dr()
	in.intern(x)
	in.intern(y)
	if !sameMap(x.Spec.Subsets[0].Labels, y.Spec.Subsets[0].Labels) || !sameMap(x.Spec.Subsets[1].Labels, y.Spec.Subsets[1].Labels) {
		t.Error("DestinationRule subsets with the same labels do not share them")
	}
	if sameMap(x.Spec.Subsets[0].Labels, x.Spec.Subsets[1].Labels) || x.Spec.Subsets[1].Labels["version"] != "v2" {
		t.Errorf("subsets of other labels share them: %v", x.Spec.Subsets)
	}

	mr := func(exact string) *metav1alpha1.MetaRouter {
		return &metav1alpha1.MetaRouter{Spec: metav1alpha1.MetaRouterSpec{Routes: []metav1alpha1.MetaRoute{{Name: "r"},
			{Match: &metav1alpha1.MetaRouteMatch{Attributes: map[string]metav1alpha1.StringMatch{"method": {Exact: exact}}}}}}}
	}
	m1, m2, m3 := mr("sayHello"), mr("sayHello"), mr("other")
	for _, m := range []*metav1alpha1.MetaRouter{m1, m2, m3} {
		in.intern(m)
	}
	if !sameMap(m1.Spec.Routes[1].Match.Attributes, m2.Spec.Routes[1].Match.Attributes) {
		t.Error("routes matching the same attributes do not share them")
	}
	if sameMap(m1.Spec.Routes[1].Match.Attributes, m3.Spec.Routes[1].Match.Attributes) || m3.Spec.Routes[1].Match.Attributes["method"].Exact != "other" {
		t.Error("routes matching other attributes share them")
	}
}

// TestInternIsBounded: a table that has handed out maxInterned maps
// starts again rather than growing; what it returns is still right.
func TestInternIsBounded(t *testing.T) {
	tab := newMapTable(appendString)
	for i := range maxInterned + 10 {
		m := map[string]string{"i": fmt.Sprint(i)}
		if got := tab.intern(m); !reflect.DeepEqual(got, m) {
			t.Fatalf("intern(%v) = %v", m, got)
		}
	}
	if n := len(tab.maps); n > maxInterned {
		t.Errorf("the table holds %d maps, more than %d", n, maxInterned)
	}
	big := map[string]string{}
	for i := range maxInternedLen + 1 {
		big[fmt.Sprint(i)] = "x"
	}
	if got := tab.intern(big); !sameMap(got, big) {
		t.Error("a map larger than maxInternedLen was replaced")
	}
}
