package model_test

import (
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestWithoutEqualsABuildWithoutTheObjects: dropping objects (routing
// ones, which take the shortcut, or any other) gives the snapshot a build
// without them would give, revisions included.
func TestWithoutEqualsABuildWithoutTheObjects(t *testing.T) {
	router := func(name, host string) *metaprotocolv1alpha1.MetaRouter {
		return &metaprotocolv1alpha1.MetaRouter{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: metaprotocolv1alpha1.MetaRouterSpec{Hosts: []string{host}}}
	}
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"},
		Spec: networkingv1alpha3.DestinationRule{Host: "a", Subsets: []*networkingv1alpha3.Subset{{Name: "v1", Labels: map[string]string{"v": "1"}}}}}
	a, b := service("a", map[string]string{"app": "a"}), service("b", nil)
	all := []runtimeObject{a, b, dr, router("keep", "a"), router("drop", "b")}
	build := func(skip map[string]bool) *model.Snapshot {
		bl := model.NewBuilder(model.Options{})
		for _, o := range all {
			if !skip[o.GetName()] {
				must(t, bl.Add(o, model.Origin{}))
			}
		}
		return bl.Build()
	}
	full := build(nil)
	for name, drop := range map[string]model.ObjectRef{
		"drop": {Group: "metaprotocol.aeraki.io", Kind: "MetaRouter", Namespace: "ns", Name: "drop"},
		"b":    {Kind: "Service", Namespace: "ns", Name: "b"},
	} {
		got := full.Without(map[string]bool{drop.Key(): true})
		want := build(map[string]bool{name: true})
		if d := model.Diff(want, got); len(d) != 0 {
			t.Errorf("dropping %s: keys differ from a build without it: %v", drop, d)
		}
		if n := len(got.View().MetaRouters("b.ns.svc.cluster.local")); n != len(want.View().MetaRouters("b.ns.svc.cluster.local")) {
			t.Errorf("dropping %s: %d routers left", drop, n)
		}
		if _, ok := got.Object(drop); ok {
			t.Errorf("dropping %s: still among the objects", drop)
		}
		if len(got.View().Subsets("a.ns.svc.cluster.local")) != 1 || got.View().Service("a.ns.svc.cluster.local") == nil {
			t.Errorf("dropping %s lost what it did not touch", drop)
		}
	}
}

type runtimeObject interface {
	metav1.Object
	runtime.Object
}
