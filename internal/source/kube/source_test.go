package kube_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/source/kube"
	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

const (
	ns   = "demo"
	host = "provider.demo.svc.cluster.local"
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's global logger.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// run starts a cluster cache and a Source on cfg and returns the updates.
// Run's result arrives on the returned error channel.
func run(t *testing.T, cfg *rest.Config, recheck time.Duration) (<-chan source.Update, <-chan error) {
	t.Helper()
	scheme, err := kube.NewScheme(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cluster.New(cfg, func(o *cluster.Options) {
		o.Scheme = scheme
		o.Cache = kube.CacheOptions(scheme, nil)
		o.Logger = testr.New(t)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cacheDone := make(chan struct{})
	go func() { defer close(cacheDone); _ = cl.Start(ctx) }()
	src, err := kube.New(kube.Options{Cache: cl.GetCache(), Client: cl.GetClient(), Mapper: cl.GetRESTMapper(),
		Debounce: 50 * time.Millisecond, RecheckInterval: recheck, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan source.Update)
	errc := make(chan error, 1)
	srcDone := make(chan struct{})
	go func() { defer close(srcDone); errc <- src.Run(ctx, updates) }()
	t.Cleanup(func() { cancel(); <-srcDone; <-cacheDone })
	return updates, errc
}

// next waits (at most 20 s) for an update that satisfies ok, and fails
// the test when Run ends first.
func next(t *testing.T, updates <-chan source.Update, errc <-chan error, what string, ok func(*model.Snapshot) bool) *model.Snapshot {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case u := <-updates:
			if ok(u.Snapshot) {
				return u.Snapshot
			}
		case err := <-errc:
			t.Fatalf("source stopped while waiting for %s: %v", what, err)
		case <-timeout:
			t.Fatalf("no update with %s within 20s", what)
		}
	}
}

func mustCreate(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func metaRouter(subset string) *metaprotocolv1alpha1.MetaRouter {
	return &metaprotocolv1alpha1.MetaRouter{
		ObjectMeta: metav1.ObjectMeta{Name: "provider", Namespace: ns},
		Spec: metaprotocolv1alpha1.MetaRouterSpec{Hosts: []string{host}, Routes: []metaprotocolv1alpha1.MetaRoute{{
			Name:  "r",
			Route: []metaprotocolv1alpha1.MetaRouteDestination{{Destination: metaprotocolv1alpha1.Destination{Host: host, Subset: subset}}},
		}}},
	}
}

func routerSubset(s *model.Snapshot) string {
	o, ok := s.Object(model.ObjectRef{Group: "metaprotocol.aeraki.io", Kind: "MetaRouter", Namespace: ns, Name: "provider"})
	if !ok {
		return ""
	}
	return o.Object.(*metaprotocolv1alpha1.MetaRouter).Spec.Routes[0].Route[0].Destination.Subset
}

func fixtures() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "provider", Namespace: ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880}}}},
		&networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "provider", Namespace: ns},
			Spec: networkingapi.DestinationRule{Host: host, Subsets: []*networkingapi.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}}}},
		metaRouter("v1"),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "redis-auth", Namespace: ns}, StringData: map[string]string{"password": "p"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: ns, Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
			Type: corev1.SecretTypeServiceAccountToken},
	}
}

// TestSource runs the source against a real API server: the first
// snapshot, a change, a status write that changes nothing the model
// reads, a burst, a delete, and Gateway API installed while running.
func TestSource(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	cfg, _ := testenv.StartKube(t, filepath.Join(root, "crd"), testenv.IstioCRDDir())
	scheme, _ := kube.NewScheme(nil)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustCreate(t, c, fixtures()...)

	updates, errc := run(t, cfg, 200*time.Millisecond)
	snap := next(t, updates, errc, "the first snapshot", func(*model.Snapshot) bool { return true })
	svc := snap.View().Service(host)
	if svc == nil {
		t.Fatalf("the first snapshot has no %s; objects: %v", host, refs(snap))
	}
	for _, o := range snap.Objects() {
		if o.Object.GetObjectKind().GroupVersionKind().Kind != o.Ref.Kind {
			t.Errorf("%s: GVK not set on the object (%v)", o.Ref, o.Object.GetObjectKind().GroupVersionKind())
		}
		if m, ok := o.Object.(metav1.Object); ok && len(m.GetManagedFields()) > 0 {
			t.Errorf("%s: managedFields were not stripped", o.Ref)
		}
	}
	if routerSubset(snap) != "v1" {
		t.Fatalf("MetaRouter not in the first snapshot: %v", refs(snap))
	}
	if _, ok := snap.Object(model.ObjectRef{Kind: "Secret", Namespace: ns, Name: "redis-auth"}); !ok {
		t.Error("the Opaque Secret is not in the snapshot")
	}
	if _, ok := snap.Object(model.ObjectRef{Kind: "Secret", Namespace: ns, Name: "token"}); ok {
		t.Error("a service account token Secret was cached; its type is excluded")
	}

	t.Run("StatusWriteIsNotAChange", func(t *testing.T) {
		mr := &metaprotocolv1alpha1.MetaRouter{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "provider"}, mr); err != nil {
			t.Fatal(err)
		}
		mr.Status.ObservedGeneration = mr.Generation
		mr.Status.SetCondition(metav1.Condition{Type: conditions.TypeAccepted, Status: metav1.ConditionTrue, Reason: conditions.ReasonAccepted, Message: "ok"})
		if err := c.Status().Update(ctx, mr); err != nil {
			t.Fatal(err)
		}
		// Longer than the source's longest wait (1 s), so the status
		// write was seen and settled before the real change below.
		time.Sleep(1500 * time.Millisecond)
		setSubset(t, c, "v2")
		got := next(t, updates, errc, "any update", func(*model.Snapshot) bool { return true })
		if routerSubset(got) != "v2" {
			t.Fatalf("the status write produced an update of its own (subset %q); want the next update to be the spec change", routerSubset(got))
		}
	})

	t.Run("BurstIsDebounced", func(t *testing.T) {
		n := 0
		for i := 0; i < 10; i++ {
			setSubset(t, c, fmt.Sprintf("s%d", i))
		}
		next(t, updates, errc, "the last subset of the burst", func(s *model.Snapshot) bool { n++; return routerSubset(s) == "s9" })
		if n >= 10 {
			t.Errorf("10 quick changes produced %d updates; want them coalesced", n)
		}
		t.Logf("10 changes -> %d updates", n)
	})

	t.Run("PodIPIsAChange", func(t *testing.T) {
		// Pods get their IP after they are created, in their status.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "provider-0", Namespace: ns, Labels: map[string]string{"app": "provider"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "provider"}}}}
		mustCreate(t, c, pod)
		next(t, updates, errc, "the new Pod", func(s *model.Snapshot) bool { return podIP(s) == "" && hasPod(s) })
		pod.Status.PodIP = "10.0.0.7"
		pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.7"}}
		if err := c.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
		next(t, updates, errc, "the Pod's IP", func(s *model.Snapshot) bool { return podIP(s) == "10.0.0.7" })
	})

	t.Run("Delete", func(t *testing.T) {
		if err := c.Delete(ctx, metaRouter("")); err != nil {
			t.Fatal(err)
		}
		next(t, updates, errc, "the MetaRouter gone", func(s *model.Snapshot) bool { return routerSubset(s) == "" })
	})

	t.Run("GatewayAPIInstalledLater", func(t *testing.T) {
		if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{testenv.GatewayAPICRDDir()}, ErrorIfPathMissing: true}); err != nil {
			t.Fatal(err)
		}
		gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "waypoint", Namespace: ns},
			Spec: gatewayv1.GatewaySpec{GatewayClassName: "istio-waypoint", Listeners: []gatewayv1.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}}}}
		c2, err := client.New(cfg, client.Options{Scheme: scheme}) // a fresh client sees the new group
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, c2, gw)
		next(t, updates, errc, "the Gateway", func(s *model.Snapshot) bool {
			_, ok := s.Object(model.ObjectRef{Group: "gateway.networking.k8s.io", Kind: "Gateway", Namespace: ns, Name: "waypoint"})
			return ok
		})
	})
	t.Run("EditsAgreeWithAFreshListing", func(t *testing.T) {
		// After a run of changes (each delivered as an Edit of the last
		// snapshot: only the changed objects re-indexed), the snapshot is
		// the one a source starting now lists from the API server.
		slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "provider-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "provider"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("tcp-dubbo"), Port: ptr(int32(20880))}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.7"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "provider-0"}}}}
		mustCreate(t, c, slice, metaRouter("v3"))
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "provider-0"}, pod); err != nil {
			t.Fatal(err)
		}
		pod.Labels["version"] = "v3"
		if err := c.Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
		last := next(t, updates, errc, "the new slice, router and pod labels", func(s *model.Snapshot) bool {
			eps := s.View().Endpoints(host, 20880)
			return routerSubset(s) == "v3" && len(eps) == 1 && eps[0].Labels["version"] == "v3"
		})
		if err := c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "redis-auth", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
		last = next(t, updates, errc, "the Secret gone", func(s *model.Snapshot) bool {
			_, ok := s.Object(model.ObjectRef{Kind: "Secret", Namespace: ns, Name: "redis-auth"})
			return !ok
		})
		freshUpdates, freshErr := run(t, cfg, time.Hour)
		fresh := next(t, freshUpdates, freshErr, "a fresh listing", func(*model.Snapshot) bool { return true })
		if d := model.Diff(last, fresh); len(d) > 0 {
			t.Errorf("the edited snapshot and a fresh listing differ in %v", d)
		}
		a, b := last.Objects(), fresh.Objects()
		if len(a) != len(b) {
			t.Fatalf("edited snapshot has %d objects, a fresh listing %d", len(a), len(b))
		}
		for i := range a {
			if a[i].Ref != b[i].Ref || a[i].Revision != b[i].Revision {
				t.Errorf("object %d: edited %s@%s, fresh %s@%s", i, a[i].Ref, a[i].Revision, b[i].Ref, b[i].Revision)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

func setSubset(t *testing.T, c client.Client, subset string) {
	t.Helper()
	mr := &metaprotocolv1alpha1.MetaRouter{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "provider"}, mr); err != nil {
		t.Fatal(err)
	}
	mr.Spec.Routes[0].Route[0].Destination.Subset = subset
	if err := c.Update(context.Background(), mr); err != nil {
		t.Fatal(err)
	}
}

func hasPod(s *model.Snapshot) bool {
	_, ok := s.Object(model.ObjectRef{Kind: "Pod", Namespace: ns, Name: "provider-0"})
	return ok
}

func podIP(s *model.Snapshot) string {
	o, ok := s.Object(model.ObjectRef{Kind: "Pod", Namespace: ns, Name: "provider-0"})
	if !ok {
		return ""
	}
	return o.Object.(*corev1.Pod).Status.PodIP
}

func refs(s *model.Snapshot) []string {
	var out []string
	for _, o := range s.Objects() {
		out = append(out, o.Ref.String())
	}
	return out
}

// TestRBAC runs the source as users with less than examples/install
// grants: without Secrets it runs without them; without Services it
// refuses to start and says what to grant.
func TestRBAC(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	cfg, _ := testenv.StartKube(t, filepath.Join(root, "crd"), testenv.IstioCRDDir())
	scheme, _ := kube.NewScheme(nil)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, fixtures()...)
	all := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "services", "pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"metaprotocol.aeraki.io", "redis.aeraki.io", "dubbo.aeraki.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
	}
	as := func(user string, rules []rbacv1.PolicyRule) *rest.Config {
		mustCreate(t, c,
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: rules},
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
				Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}})
		u := rest.CopyConfig(cfg)
		u.Impersonate = rest.ImpersonationConfig{UserName: user}
		return u
	}

	t.Run("NoSecrets", func(t *testing.T) {
		updates, errc := run(t, as("no-secrets", all), time.Minute)
		snap := next(t, updates, errc, "the first snapshot", func(*model.Snapshot) bool { return true })
		if snap.View().Service(host) == nil {
			t.Fatalf("no service in the snapshot: %v", refs(snap))
		}
		if _, ok := snap.Object(model.ObjectRef{Kind: "Secret", Namespace: ns, Name: "redis-auth"}); ok {
			t.Fatal("a Secret was read without permission")
		}
	})

	t.Run("NoServices", func(t *testing.T) {
		rules := append([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces", "pods"}, Verbs: []string{"get", "list", "watch"}}}, all[1:]...)
		_, errc := run(t, as("no-services", rules), time.Minute)
		select {
		case err := <-errc:
			if err == nil || !strings.Contains(err.Error(), "Service") || !strings.Contains(err.Error(), "examples/install/rbac.yaml") {
				t.Fatalf("want an error naming Service and the RBAC file, got %v", err)
			}
			t.Logf("error: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the source did not fail within 30s")
		}
	})
}
