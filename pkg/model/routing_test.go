package model_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestPluginKindIsIndexedLikeACoreRoutingKind: objects of a kind a plugin
// brings are found by resolved host and by namespace, oldest first, the
// way MetaRouters are; dropping one (Without, as validation does) leaves
// it out of every lookup and changes the revision a build that read it
// recorded.
func TestPluginKindIsIndexedLikeACoreRoutingKind(t *testing.T) {
	gk := pluginKind.GroupKind()
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(1700000000+int64(s), 0)) }
	rs := func(name string, created int, hosts ...string) *redisv1alpha1.RedisService {
		return &redisv1alpha1.RedisService{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: at(created)},
			Spec: redisv1alpha1.RedisServiceSpec{Host: hosts}}
	}
	b := model.NewBuilder(model.Options{Kinds: []model.Kind{pluginKind}})
	for _, o := range []runtimeObject{rs("newer", 2, "cache"), rs("older", 1, "cache.ns.svc.cluster.local", "CACHE"), rs("other", 3, "db.other.svc.cluster.local")} {
		must(t, b.Add(o, model.Origin{}))
	}
	snap := b.Build()
	names := func(list []*redisv1alpha1.RedisService) string {
		var out []string
		for _, o := range list {
			out = append(out, o.Name)
		}
		return strings.Join(out, ",")
	}
	v := snap.View()
	if got := names(model.ForHost[*redisv1alpha1.RedisService](v, gk, "cache.ns.svc.cluster.local")); got != "older,newer" {
		t.Errorf("ForHost(cache) = %s, want older,newer (short and upper-case hosts resolved, each object once, oldest first)", got)
	}
	if got := names(model.InNamespace[*redisv1alpha1.RedisService](v, gk, "ns")); got != "older,newer,other" {
		t.Errorf("InNamespace(ns) = %s", got)
	}
	if got := names(model.OfKind[*redisv1alpha1.RedisService](v, gk)); got != "older,newer,other" {
		t.Errorf("OfKind = %s", got)
	}
	if got := v.ObjectsForHost(gk, "nothing.ns.svc.cluster.local"); got != nil {
		t.Errorf("a host no object names: %v", got)
	}

	deps := model.Deps{}
	model.ForHost[*redisv1alpha1.RedisService](snap.TrackedView(deps), gk, "cache.ns.svc.cluster.local")
	dropped := snap.Without(map[string]bool{model.ObjectRef{Group: gk.Group, Kind: gk.Kind, Namespace: "ns", Name: "older"}.Key(): true})
	if got := names(model.ForHost[*redisv1alpha1.RedisService](dropped.View(), gk, "cache.ns.svc.cluster.local")); got != "newer" {
		t.Errorf("after Without(older): ForHost(cache) = %s, want newer", got)
	}
	if !deps.Changed(dropped) {
		t.Error("dropping an object a build read is not seen as a change")
	}
}

// TestUnknownKindIsRefused: a Builder refuses an object of a kind neither
// the core nor its Options.Kinds read, saying so.
func TestUnknownKindIsRefused(t *testing.T) {
	err := model.NewBuilder(model.Options{}).Add(&redisv1alpha1.RedisService{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}, model.Origin{})
	if err == nil || !strings.Contains(err.Error(), "not a kind the model reads") {
		t.Fatalf("Add = %v, want an error saying the kind is not read", err)
	}
}
