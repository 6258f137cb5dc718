package awesomerpc_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"example.com/awesomerpc"
	"example.com/awesomerpc/api/v1alpha1"
	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/aeraki"
	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest/kubetest"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// kubeWait bounds each wait on the API server or aeraki: a bound, not a
// performance claim.
const kubeWait = time.Minute

// aerakiInstall is aeraki's own install (its ServiceAccount and RBAC,
// generated from its chart), which the plugin's deploy/rbac.yaml extends.
var aerakiInstall = []string{"../../examples/install/serviceaccount.yaml", "../../examples/install/rbac.yaml"}

// TestKubernetesStatus applies the plugin's CRD to a real API server,
// creates a Service with an AwesomeRPC port, a policy for it and one for
// a service without such a port, runs aeraki serve in Kubernetes mode
// with the plugin, as aeraki's ServiceAccount with aeraki's RBAC plus
// deploy/rbac.yaml, and checks what a user sees in kubectl: the good
// policy Accepted and Programmed, the bad one not accepted, with the
// plugin's reason.
func TestKubernetesStatus(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"crd"}})
	cl := c.Client(t, v1alpha1.AddToScheme, metaprotocolv1alpha1.AddToScheme)
	ctx := context.Background()
	create := func(obj client.Object) {
		t.Helper()
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
	for _, ns := range []string{"demo", "istio-system"} { // istio-system holds aeraki's Lease
		create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	c.Apply(t, aerakiInstall...)
	c.Apply(t, "deploy/rbac.yaml")
	create(&metaprotocolv1alpha1.ApplicationProtocol{ObjectMeta: metav1.ObjectMeta{Name: "awesomerpc"},
		Spec: metaprotocolv1alpha1.ApplicationProtocolSpec{Protocol: "awesomerpc", Codec: "awesomerpc.codec.v1.CodecConfig"}})
	create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "greeter", Namespace: "demo"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "tcp-awesomerpc", Port: 7777}}}})
	create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	policy := func(name, host, timeout string) *v1alpha1.AwesomeRPCPolicy {
		return &v1alpha1.AwesomeRPCPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"},
			Spec: v1alpha1.AwesomeRPCPolicySpec{Hosts: []string{host}, Timeout: duration.Duration(timeout)}}
	}

	// The CRD's schema is the first check: kubectl is refused a bad
	// timeout before aeraki sees it.
	if err := cl.Create(ctx, policy("soon", "greeter", "soon")); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.timeout") {
		t.Errorf("creating a policy with timeout \"soon\": want the CRD's pattern to refuse spec.timeout, got %v", err)
	}
	create(policy("greeter", "greeter", "1.5s"))
	create(policy("web", "web", "1s"))

	serve(t, "--kubeconfig", c.Impersonate(t, "istio-system", "aeraki"),
		"--proxy-profile", "envoy-awesomerpc.profile.yaml", "--sidecar-proxy", "envoy-awesomerpc")

	good := waitForCondition(t, cl, "greeter", conditions.TypeProgrammed)
	if a := apimeta.FindStatusCondition(good.Status.Conditions, conditions.TypeAccepted); a == nil || a.Status != metav1.ConditionTrue {
		t.Errorf("policy demo/greeter: want Accepted=True, got %+v", good.Status.Conditions)
	}
	if p := apimeta.FindStatusCondition(good.Status.Conditions, conditions.TypeProgrammed); p.Status != metav1.ConditionTrue {
		t.Errorf("policy demo/greeter: want Programmed=True, got %+v", p)
	}
	bad := waitForCondition(t, cl, "web", conditions.TypeAccepted)
	for _, p := range []*v1alpha1.AwesomeRPCPolicy{good, bad} {
		for _, c := range p.Status.Conditions {
			t.Logf("policy demo/%s: %s=%s (%s) %s", p.Name, c.Type, c.Status, c.Reason, c.Message)
		}
	}
	a := apimeta.FindStatusCondition(bad.Status.Conditions, conditions.TypeAccepted)
	if a.Status != metav1.ConditionFalse || a.Reason != conditions.ReasonUnsupportedProtocol ||
		!strings.Contains(a.Message, "web.demo.svc.cluster.local has no AwesomeRPC port; name a port tcp-awesomerpc") {
		t.Errorf("policy demo/web: want Accepted=False (%s) with the plugin's message, got %+v", conditions.ReasonUnsupportedProtocol, a)
	}
	if p := apimeta.FindStatusCondition(bad.Status.Conditions, conditions.TypeProgrammed); p == nil || p.Status != metav1.ConditionFalse {
		t.Errorf("policy demo/web: want Programmed=False, got %+v", bad.Status.Conditions)
	}
}

// TestKubernetesNeedsThePluginsRBAC: without deploy/rbac.yaml, aeraki
// (with aeraki's RBAC only) refuses to start, naming the rule to add.
func TestKubernetesNeedsThePluginsRBAC(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"crd"}})
	cl := c.Client(t)
	if err := cl.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}); err != nil {
		t.Fatal(err)
	}
	c.Apply(t, aerakiInstall...)
	ctx, cancel := context.WithTimeout(context.Background(), kubeWait)
	defer cancel()
	var stderr bytes.Buffer
	code := aeraki.Run(ctx, []string{"serve", "--kubeconfig", c.Impersonate(t, "istio-system", "aeraki"),
		"--plaintext-address", freeAddr(t), "--debug-address", freeAddr(t), "--monitoring-address", freeAddr(t)},
		&bytes.Buffer{}, &stderr, builtin.With(awesomerpc.New())...)
	if code == 0 || ctx.Err() != nil {
		t.Fatalf("aeraki serve without the plugin's RBAC: exit %d (context %v), want a refusal at start-up:\n%s", code, ctx.Err(), stderr.String())
	}
	for _, want := range []string{"may not list and watch AwesomeRPCPolicy.awesomerpc.example.com", `resource "awesomerpcpolicies"`, "ClusterRole"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("aeraki's refusal does not say %q:\n%s", want, stderr.String())
		}
	}
}

// waitForCondition polls the policy until aeraki has written condition
// typ on it (for the policy's current generation), up to kubeWait.
func waitForCondition(t *testing.T, cl client.Client, name, typ string) *v1alpha1.AwesomeRPCPolicy {
	t.Helper()
	deadline := time.Now().Add(kubeWait)
	for {
		p := &v1alpha1.AwesomeRPCPolicy{}
		err := cl.Get(context.Background(), client.ObjectKey{Namespace: "demo", Name: name}, p)
		if err == nil {
			if c := apimeta.FindStatusCondition(p.Status.Conditions, typ); c != nil && c.ObservedGeneration == p.Generation {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy demo/%s: no %s condition after %v (last error %v, status %+v)", name, typ, kubeWait, err, p.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serve runs `aeraki serve` in-process with this plugin next to the
// builtin ones (cmd/aeraki-awesomerpc), every address on 127.0.0.1, waits
// for /ready and stops it, expecting exit status 0, when the test ends.
func serve(t *testing.T, args ...string) {
	t.Helper()
	debug := freeAddr(t)
	args = append([]string{"serve", "--plaintext-address", freeAddr(t), "--debug-address", debug, "--monitoring-address", freeAddr(t)}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- aeraki.Run(ctx, args, &bytes.Buffer{}, stderr, builtin.With(awesomerpc.New())...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("aeraki serve exited with %d:\n%s", code, stderr)
			}
		case <-time.After(kubeWait):
			t.Errorf("aeraki serve did not stop within %v", kubeWait)
		}
	})
	deadline := time.Now().Add(kubeWait)
	for {
		if resp, err := http.Get("http://" + debug + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case code := <-done:
			done <- code // for the cleanup
			t.Fatalf("aeraki serve exited with %d before it was ready:\n%s", code, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aeraki serve not ready within %v:\n%s", kubeWait, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is a free 127.0.0.1 address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer aeraki's logger and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
