package kubemode_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/internal/kubemode"
	"github.com/aeraki-ng/aeraki/internal/server"
	"github.com/aeraki-ng/aeraki/internal/source/kube"
	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// wait bounds every wait in these tests; a bound, not a performance claim.
const wait = 30 * time.Second

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's global logger.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// cluster is an API server with aeraki's and Istio's CRDs, a client and
// kubectl for it.
type cluster struct {
	cfg     *rest.Config
	client  client.Client
	kubectl *testenv.Kubectl
	root    string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	cfg, kubeconfig := testenv.StartKube(t, filepath.Join(root, "crd"), testenv.IstioCRDDir())
	k := testenv.RequireKubectl(t, kubeconfig)
	scheme, err := kube.NewScheme(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	k.Must(t, "create", "namespace", "istio-system")
	return &cluster{cfg: cfg, client: c, kubectl: k, root: root}
}

// replica is one aeraki in Kubernetes mode: the server with the Mode as
// its source, as `aeraki serve` wires them.
type replica struct {
	name string
	mode *kubemode.Mode
	srv  *server.Server
	stop func()
}

func startReplica(t *testing.T, c *cluster, name string, le kubemode.LeaderElection) *replica {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d)
	if err != nil {
		t.Fatal(err)
	}
	log := testr.NewWithOptions(t, testr.Options{Verbosity: 1}).WithName(name)
	le.Identity = name
	mode, err := kubemode.New(kubemode.Options{Config: c.cfg, Debounce: 50 * time.Millisecond, LeaderElection: le, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Registry: reg, Source: mode, OnPublish: mode.Published,
		XDSAddress: "127.0.0.1:0", DebugAddress: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	r := &replica{name: name, mode: mode, srv: srv}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		case <-time.After(wait):
			t.Errorf("%s did not stop within %v", name, wait)
		}
	}
	t.Cleanup(r.stop)
	return r
}

// condition reads a MetaRouter's condition from the API server (not a
// cache); nil when absent.
func condition(t *testing.T, c *cluster, ns, name, typ string) (*metav1.Condition, *metaprotocolv1alpha1.MetaRouter) {
	t.Helper()
	mr := &metaprotocolv1alpha1.MetaRouter{}
	if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, mr); err != nil {
		t.Fatalf("get MetaRouter %s/%s: %v", ns, name, err)
	}
	return mr.Status.Condition(typ), mr
}

// waitCondition waits until a MetaRouter's condition has the status and
// reason, for its current generation, and returns the object.
func waitCondition(t *testing.T, c *cluster, ns, name, typ string, st metav1.ConditionStatus, reason string) *metaprotocolv1alpha1.MetaRouter {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		cond, mr := condition(t, c, ns, name, typ)
		if cond != nil && cond.Status == st && cond.Reason == reason && cond.ObservedGeneration == mr.Generation && mr.Status.ObservedGeneration == mr.Generation {
			return mr
		}
		if time.Now().After(deadline) {
			t.Fatalf("MetaRouter %s/%s: %s is %+v (generation %d), want %s/%s within %v", ns, name, typ, cond, mr.Generation, st, reason, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// accepted is the condition triple of a healthy object.
func waitHealthy(t *testing.T, c *cluster, ns, name string) *metaprotocolv1alpha1.MetaRouter {
	t.Helper()
	waitCondition(t, c, ns, name, conditions.TypeAccepted, metav1.ConditionTrue, conditions.ReasonAccepted)
	waitCondition(t, c, ns, name, conditions.TypeResolvedRefs, metav1.ConditionTrue, conditions.ReasonResolvedRefs)
	return waitCondition(t, c, ns, name, conditions.TypeProgrammed, metav1.ConditionTrue, conditions.ReasonProgrammed)
}
