package waypoint_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/internal/source/kube"
	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/internal/waypoint"
)

var values = waypoint.Values{EnvoyImage: "envoyproxy/envoy:v1.36.0", AgentImage: "ghcr.io/aeraki-ng/aeraki:test",
	XDSAddress: "aeraki.istio-system.svc:15012", XDSIdentity: "spiffe://cluster.local/ns/istio-system/sa/aeraki",
	CAAddress: "istiod.istio-system.svc:15012", TrustDomain: "cluster.local", SDSSocket: "/var/run/aeraki/sds/socket"}

func run(t *testing.T, c *waypoint.Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitGateway(t *testing.T, c client.Client, name string, ok func(*gatewayv1.Gateway) bool) *gatewayv1.Gateway {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gw := &gatewayv1.Gateway{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "demo", Name: name}, gw); err != nil {
			t.Fatal(err)
		}
		if ok(gw) {
			return gw
		}
		if time.Now().After(deadline) {
			t.Fatalf("Gateway demo/%s: status %+v", name, gw.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestControllerDeploysAndReports runs the controller on the real API
// server (no kubelet, no garbage collector): the GatewayClass is created
// and accepted, each Gateway of the class gets its objects and status;
// a Gateway of another class is left alone; a template that puts an
// object in another namespace makes Programmed False with the reason.
func TestControllerDeploysAndReports(t *testing.T) {
	cfg, _ := testenv.StartKube(t, testenv.GatewayAPICRDDir())
	scheme, err := kube.NewScheme(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}); err != nil {
		t.Fatal(err)
	}
	for name, class := range map[string]string{"wp": "aeraki-waypoint", "theirs": "istio-waypoint"} {
		if err := c.Create(ctx, &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"},
			Spec: gatewayv1.GatewaySpec{GatewayClassName: gatewayv1.ObjectName(class),
				Listeners: []gatewayv1.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	ctl, err := waypoint.New(waypoint.Options{Client: c, Values: values, Resync: 200 * time.Millisecond, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctl)

	gw := waitGateway(t, c, "wp", func(gw *gatewayv1.Gateway) bool {
		return apimeta.IsStatusConditionTrue(gw.Status.Conditions, "Programmed") && len(gw.Status.Addresses) == 1
	})
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "wp"}, svc); err != nil || svc.Spec.ClusterIP != gw.Status.Addresses[0].Value {
		t.Errorf("status.addresses %v, Service %v (%v)", gw.Status.Addresses, svc.Spec.ClusterIP, err)
	}
	gc := &gatewayv1.GatewayClass{}
	if err := c.Get(ctx, client.ObjectKey{Name: "aeraki-waypoint"}, gc); err != nil || !apimeta.IsStatusConditionTrue(gc.Status.Conditions, "Accepted") {
		t.Errorf("GatewayClass: %v %+v", err, gc.Status)
	}
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "wp"}, dep); err != nil {
		t.Fatal(err)
	}
	if refs := dep.OwnerReferences; len(refs) != 1 || refs[0].UID != gw.UID {
		t.Errorf("Deployment owners %+v", refs)
	}
	// A status that is right is not written again.
	rv := gw.ResourceVersion
	time.Sleep(time.Second)
	if again := waitGateway(t, c, "wp", func(*gatewayv1.Gateway) bool { return true }); again.ResourceVersion != rv {
		t.Errorf("the Gateway's status was rewritten without a change (resourceVersion %s -> %s)", rv, again.ResourceVersion)
	}
	// The CRD's default status is Pending; aeraki leaves it so.
	if theirs := waitGateway(t, c, "theirs", func(*gatewayv1.Gateway) bool { return true }); apimeta.FindStatusCondition(theirs.Status.Conditions, "Accepted").Reason != "Pending" {
		t.Errorf("the istio-waypoint Gateway got a status from aeraki: %+v", theirs.Status)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "theirs"}, &appsv1.Deployment{}); err == nil {
		t.Errorf("aeraki deployed the istio-waypoint Gateway")
	}

	// An operator's template that strays out of the Gateway's namespace.
	bad, err := waypoint.New(waypoint.Options{Client: c, Values: values, Resync: 200 * time.Millisecond, Log: testr.New(t),
		ClassName: "custom", Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: kube-system}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "custom", Namespace: "demo"},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "custom", Listeners: []gatewayv1.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}}}}); err != nil {
		t.Fatal(err)
	}
	run(t, bad)
	gw = waitGateway(t, c, "custom", func(gw *gatewayv1.Gateway) bool {
		p := apimeta.FindStatusCondition(gw.Status.Conditions, "Programmed")
		return p != nil && p.Status == metav1.ConditionFalse
	})
	if p := apimeta.FindStatusCondition(gw.Status.Conditions, "Programmed"); p.Reason != "Invalid" || !strings.Contains(p.Message, "namespace kube-system") {
		t.Errorf("Programmed = %+v, want Invalid naming the namespace", p)
	}
}

// TestWakeSkipsUnchangedGateways: the server wakes the controller after
// every generation; a Gateway whose rendered objects are unchanged since
// they were last applied is not applied again (its status is still
// checked), so a busy mesh does not send the API server four
// server-side applies per waypoint per generation.
func TestWakeSkipsUnchangedGateways(t *testing.T) {
	cfg, _ := testenv.StartKube(t, testenv.GatewayAPICRDDir())
	scheme, err := kube.NewScheme(nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	var applies, serviceGets atomic.Int64
	c := interceptor.NewClient(base, interceptor.Funcs{
		Apply: func(ctx context.Context, cl client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			applies.Add(1)
			return cl.Apply(ctx, obj, opts...)
		},
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Service); ok {
				serviceGets.Add(1)
			}
			return cl.Get(ctx, key, obj, opts...)
		},
	})
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "wp", Namespace: "demo"},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "aeraki-waypoint", Listeners: []gatewayv1.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}}}}); err != nil {
		t.Fatal(err)
	}
	ctl, err := waypoint.New(waypoint.Options{Client: c, Values: values, Resync: time.Hour, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctl)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctl.Wake() // the GatewayClass is created, then accepted, on later passes
		gw := &gatewayv1.Gateway{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "wp"}, gw); err == nil &&
			apimeta.IsStatusConditionTrue(gw.Status.Conditions, "Programmed") && len(gw.Status.Addresses) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waypoint was not deployed and programmed")
		}
	}
	before, gets := applies.Load(), serviceGets.Load()
	if before == 0 {
		t.Fatal("nothing was applied")
	}
	// Three more passes, each seen by its read of the Gateway's Service.
	for i := int64(1); i <= 3; i++ {
		ctl.Wake()
		for deadline := time.Now().Add(30 * time.Second); serviceGets.Load() < gets+i; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("pass %d after Wake did not run", i)
			}
		}
	}
	if after := applies.Load(); after != before {
		t.Errorf("%d applies after 3 wakes with nothing changed, want none", after-before)
	}
}
