package model_test

import (
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestEveryPublicLookupRecordsADependency: a plugin that reads the mesh
// through any View method is rebuilt when what it read changes. Each case
// reads through one method and adds an object that method returns.
func TestEveryPublicLookupRecordsADependency(t *testing.T) {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "ns"} }
	cases := []struct {
		name  string
		read  func(v *model.View)
		added []runtime.Object
	}{
		{"ApplicationProtocols", func(v *model.View) { v.ApplicationProtocols() },
			[]runtime.Object{&metaprotocolv1alpha1.ApplicationProtocol{ObjectMeta: meta("ap"), Spec: metaprotocolv1alpha1.ApplicationProtocolSpec{Protocol: "trpc", Codec: "x"}}}},
		{"AllMetaRouters", func(v *model.View) { v.AllMetaRouters() },
			[]runtime.Object{&metaprotocolv1alpha1.MetaRouter{ObjectMeta: meta("mr"), Spec: metaprotocolv1alpha1.MetaRouterSpec{Hosts: []string{"elsewhere"}}}}},
		{"ObjectsOfKind", func(v *model.View) { v.ObjectsOfKind(pluginKind.GroupKind()) },
			[]runtime.Object{&redisv1alpha1.RedisService{ObjectMeta: meta("rs"), Spec: redisv1alpha1.RedisServiceSpec{Host: []string{"elsewhere"}}}}},
		{"ObjectsForHost", func(v *model.View) { v.ObjectsForHost(pluginKind.GroupKind(), "cache.ns.svc.cluster.local") },
			[]runtime.Object{&redisv1alpha1.RedisService{ObjectMeta: meta("rs"), Spec: redisv1alpha1.RedisServiceSpec{Host: []string{"cache"}}}}},
		{"ObjectsInNamespace", func(v *model.View) { v.ObjectsInNamespace(pluginKind.GroupKind(), "ns") },
			[]runtime.Object{&redisv1alpha1.RedisService{ObjectMeta: meta("rs"), Spec: redisv1alpha1.RedisServiceSpec{Host: []string{"elsewhere"}}}}},
		{"WorkloadByIP", func(v *model.View) { v.WorkloadByIP("10.1.0.1") },
			[]runtime.Object{pod("p1", "10.1.0.1", nil)}},
		{"Gateways", func(v *model.View) { v.Gateways() },
			[]runtime.Object{&gatewayv1.Gateway{ObjectMeta: meta("gw"), Spec: gatewayv1.GatewaySpec{GatewayClassName: "other"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := build(t)
			deps := model.Deps{}
			c.read(before.TrackedView(deps))
			if len(deps) == 0 {
				t.Fatalf("%s recorded no dependency", c.name)
			}
			if !deps.Changed(build(t, c.added...)) {
				t.Fatalf("%s: adding %T is not seen as a change by a build that read it", c.name, c.added[0])
			}
			if deps.Changed(build(t)) {
				t.Fatalf("%s: an equal snapshot is seen as a change", c.name)
			}
		})
	}
}

// TestTrackedViewLockedRecordsFromManyGoroutines: a build that reads the
// view from several goroutines (and merges other deps under the same
// lock) records everything without a data race (go test -race).
func TestTrackedViewLockedRecordsFromManyGoroutines(t *testing.T) {
	snap := build(t)
	deps := model.Deps{}
	var mu sync.Mutex
	v := snap.TrackedViewLocked(deps, &mu)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); v.Service("a.ns.svc.cluster.local"); v.Workloads() }()
		go func() { defer wg.Done(); mu.Lock(); deps["other"] = ""; mu.Unlock() }()
	}
	wg.Wait()
	if _, ok := deps["other"]; !ok || len(deps) < 3 {
		t.Fatalf("deps = %v", deps)
	}
}

// build is a snapshot of namespace ns with objs.
func build(t *testing.T, objs ...runtime.Object) *model.Snapshot {
	t.Helper()
	b := model.NewBuilder(model.Options{Kinds: []model.Kind{pluginKind}})
	must(t, b.Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}, model.Origin{}))
	must(t, b.Add(service("a", nil), model.Origin{}))
	for _, o := range objs {
		must(t, b.Add(o, model.Origin{}))
	}
	return b.Build()
}

// pluginKind is a kind the core does not read, brought the way a plugin
// brings its own (model.Options.Kinds).
var pluginKind = model.Kind{
	GVK: redisv1alpha1.SchemeGroupVersion.WithKind("RedisService"), Resource: "redisservices", Namespaced: true,
	New: func() runtime.Object { return &redisv1alpha1.RedisService{} }, AddToScheme: redisv1alpha1.AddToScheme,
	Routing: true, Hosts: func(o runtime.Object) []string { return o.(*redisv1alpha1.RedisService).Spec.Host },
}
