package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/aeraki-ng/aeraki/internal/xdsload"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// deltaZtunnel is a delta ADS stream posing as one node's ztunnel,
// subscribed to every listener, cluster and endpoint; it ACKs every
// response and hands it on.
type deltaZtunnel struct {
	node  string
	resps chan *discoveryv3.DeltaDiscoveryResponse
}

func openDeltaZtunnel(t *testing.T, ctx context.Context, addr, node string) *deltaZtunnel {
	t.Helper()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	z := &deltaZtunnel{node: node, resps: make(chan *discoveryv3.DeltaDiscoveryResponse, 64)}
	n := &corev3.Node{Id: hbone.ZtunnelID(node)}
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.EndpointType} {
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: n, TypeUrl: typ, ResourceNamesSubscribe: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		defer close(z.resps)
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			if stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: n, TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}) != nil {
				return
			}
			z.resps <- r
		}
	}()
	return z
}

// TestPodAddedOnANodeReachesOnlyItsZtunnel: in an ambient mesh (Dubbo
// services with pods spread over nodes, waypoints), a client pod added on
// one node reaches that node's ztunnel, over delta xDS, as only the
// resources that changed (not its whole config); the other nodes'
// ztunnels receive the shard of ztunnel_outbound_pods for the pod's /24
// and nothing else: the one small listener that lists those pods (their
// ztunnel_outbound lists only their own node's pods, service addresses
// are in ztunnel_outbound_services). BenchmarkZtunnelPodAdd has the figures at 5,000 services and 100
// nodes.
func TestPodAddedOnANodeReachesOnlyItsZtunnel(t *testing.T) {
	const nodes = 5
	dir := t.TempDir()
	if err := xdsload.Generate(dir, xdsload.MeshOptions{Services: 40, Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, dir, hbone.New())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	// Each ztunnel's initial config: one response per type.
	zs := make([]*deltaZtunnel, nodes)
	total := make([]int, nodes)
	for i := range zs {
		zs[i] = openDeltaZtunnel(t, ctx, srv.XDSAddr(), fmt.Sprintf("node-%d", i))
		for range 3 {
			select {
			case r := <-zs[i].resps:
				total[i] += len(r.GetResources())
			case <-ctx.Done():
				t.Fatalf("ztunnel node-%d: no initial config", i)
			}
		}
	}

	writeFile(t, dir, "client.yaml", `apiVersion: v1
kind: Pod
metadata: {name: client, namespace: load-1, labels: {app: client}}
spec: {nodeName: node-2, serviceAccountName: client}
status: {phase: Running, podIP: 10.100.0.77}
`)
	// node-2's ztunnel gets its change first; then a bounded wait for the
	// rest (one generation pushes every proxy it changed at once).
	got := make([][]string, nodes)
	collect := func(i int, r *discoveryv3.DeltaDiscoveryResponse) {
		for _, res := range r.GetResources() {
			got[i] = append(got[i], res.GetName())
		}
		for _, name := range r.GetRemovedResources() {
			got[i] = append(got[i], "removed "+name)
		}
	}
	select {
	case r := <-zs[2].resps:
		collect(2, r)
	case <-ctx.Done():
		t.Fatal("node-2's ztunnel did not get the pod added on its node")
	}
	quiet := time.After(time.Second)
wait:
	for {
		select {
		case r := <-zs[0].resps:
			collect(0, r)
		case r := <-zs[1].resps:
			collect(1, r)
		case r := <-zs[2].resps:
			collect(2, r)
		case r := <-zs[3].resps:
			collect(3, r)
		case r := <-zs[4].resps:
			collect(4, r)
		case <-quiet:
			break wait
		}
	}
	changed := got[2]
	if len(changed) == 0 || len(changed) >= total[2] {
		t.Fatalf("node-2's ztunnel got %d of its %d resources (%v): want only the changed ones", len(changed), total[2], changed)
	}
	// Every ztunnel routes to every mesh pod (a pod bound to a waypoint
	// goes to the waypoint, any other straight over HBONE), so the other
	// nodes' shard of ztunnel_outbound_pods for 10.100.0.0/24 has the new
	// pod IP in its destination matcher; nothing else of theirs changes.
	shard := hbone.ListenerZtunnelOutboundPods + "|10.100.0.0/24"
	for i := range zs {
		if i == 2 {
			continue
		}
		if len(got[i]) != 1 || got[i][0] != shard {
			t.Errorf("ztunnel node-%d got %v for a pod added on node-2; want exactly %s", i, got[i], shard)
		}
	}
	if !strings.Contains(strings.Join(changed, " "), shard) {
		t.Errorf("node-2's ztunnel got %v: want %s among them (the new pod is a mesh pod)", changed, shard)
	}
	sort.Strings(changed)
	t.Logf("node-2's ztunnel got %s (of %d resources)", strings.Join(changed, ", "), total[2])
}
