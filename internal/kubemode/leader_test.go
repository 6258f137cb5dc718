package kubemode_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/internal/kubemode"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// routesTo reports whether the outbound EnvoyFilter of dubbo-provider
// routes sayHello to subset.
func routesTo(subset string) func(map[string]map[string]any) bool {
	return func(coll map[string]map[string]any) bool {
		ef := coll["istio-system/aeraki-outbound-dubbo-provider.dubbo-demo.svc.cluster.local"]
		if ef == nil {
			return false
		}
		b, _ := json.Marshal(ef)
		return strings.Contains(string(b), "outbound|20880|"+subset+"|dubbo-provider.dubbo-demo.svc.cluster.local")
	}
}

// sayHelloTo is examples/dubbo's MetaRouter with sayHello sent to subset.
func sayHelloTo(t *testing.T, c *cluster, subset string) {
	t.Helper()
	patch := `[{"op":"replace","path":"/spec/routes/0/route/0/destination/subset","value":"` + subset + `"}]`
	c.kubectl.Must(t, "patch", "metarouter", "-n", "dubbo-demo", "dubbo-provider", "--type=json", "-p", patch)
}

// TestTwoReplicas runs two replicas on one API server: both serve MCP,
// one leads and writes status; when the leader stops without releasing the
// Lease (as a crashed pod would), the other takes over and writes status
// within the lease duration (plus the retry period that notices it), and
// keeps serving throughout.
func TestTwoReplicas(t *testing.T) {
	c := startCluster(t)
	c.kubectl.Must(t, "apply", "-f", filepath.Join(c.root, "examples", "dubbo"))
	le := kubemode.LeaderElection{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond, KeepLeaseOnStop: true}
	replicas := []*replica{startReplica(t, c, "a", le), startReplica(t, c, "b", le)}
	watchers := []*testenv.MCPWatcher{testenv.WatchMCP(t, replicas[0].srv.XDSAddr()), testenv.WatchMCP(t, replicas[1].srv.XDSAddr())}

	waitHealthy(t, c, "dubbo-demo", "dubbo-provider")
	leader, follower := -1, -1
	deadline := time.Now().Add(wait)
	for leader < 0 {
		a, b := replicas[0].mode.IsLeader(), replicas[1].mode.IsLeader()
		switch {
		case a && b:
			t.Fatal("both replicas lead")
		case a:
			leader, follower = 0, 1
		case b:
			leader, follower = 1, 0
		case time.Now().After(deadline):
			t.Fatal("no replica became leader")
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	if h := leaseHolder(t, c); h != replicas[leader].name {
		t.Fatalf("Lease held by %q, but replica %s says it leads", h, replicas[leader].name)
	}
	t.Logf("leader %s, follower %s", replicas[leader].name, replicas[follower].name)

	// Both serve, not only the leader.
	sayHelloTo(t, c, "v1")
	for i, w := range watchers {
		w.Wait(t, "sayHello routed to v1 on "+replicas[i].name, wait, routesTo("v1"))
	}

	replicas[leader].stop()
	stopped := time.Now()
	sayHelloTo(t, c, "v2")
	c.kubectl.MustStdin(t, router("after-failover", "nowhere.dubbo-demo.svc.cluster.local", "v1"), "apply", "-f", "-")
	waitCondition(t, c, "dubbo-demo", "after-failover", conditions.TypeAccepted, metav1.ConditionFalse, conditions.ReasonHostNotFound)
	took := time.Since(stopped)
	// client-go notices an expired Lease at its next retry, which it
	// jitters by up to 1.2 retry periods; the status write itself is one
	// request. The bound is that, not a performance target.
	bound := le.LeaseDuration + le.RetryPeriod + time.Duration(1.2*float64(le.RetryPeriod)) + 2*time.Second
	t.Logf("the follower wrote status %v after the leader stopped (lease duration %v)", took.Round(10*time.Millisecond), le.LeaseDuration)
	if took > bound {
		t.Errorf("the follower wrote status %v after the leader stopped; want within the lease duration %v (bound %v)", took, le.LeaseDuration, bound)
	}
	if !replicas[follower].mode.IsLeader() || leaseHolder(t, c) != replicas[follower].name {
		t.Errorf("the follower does not hold the Lease (holder %q)", leaseHolder(t, c))
	}
	waitHealthy(t, c, "dubbo-demo", "dubbo-provider")
	watchers[follower].Wait(t, "sayHello routed to v2 on "+replicas[follower].name, wait, routesTo("v2"))
	if err := watchers[follower].Err(); err != nil {
		t.Errorf("the follower's MCP stream broke during the failover: %v", err)
	}
}

func leaseHolder(t *testing.T, c *cluster) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "istio-system", Name: kubemode.DefaultLeaseName}, l); err != nil {
		t.Fatalf("get Lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return strings.SplitN(*l.Spec.HolderIdentity, "_", 2)[0]
}
