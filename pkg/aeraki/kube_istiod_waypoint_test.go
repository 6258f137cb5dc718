package aeraki

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
)

// The waypoint of examples/ambient-istio-waypoint, as its manifests write it.
const (
	wpNamespace = "ambient-istio"
	wpName      = "waypoint"
	wpPod       = "waypoint-6b8f9-zwxyz"
	wpPodIP     = "10.244.3.10"
	wpAddress   = "10.0.0.10" // the waypoint Service's cluster IP, in the Gateway's status.addresses
	dubboHost   = "dubbo-provider.ambient-istio.svc.cluster.local"
	thriftHost  = "thrift-hello.ambient-istio.svc.cluster.local"
)

// TestIstiodWaypointServesAerakiRoutes runs aeraki against the real istiod
// in ambient mode, with a waypoint istiod serves (class istio-waypoint):
// kube-apiserver holds examples/ambient-istio-waypoint (an ambient
// namespace, the waypoint's Gateway with status.addresses, its Service and
// Pod, Dubbo and Thrift services bound to it by istio.io/use-waypoint with
// pods v1/v2 and DestinationRules, their MetaRouters); aeraki reads it in
// Kubernetes mode and hands istiod EnvoyFilters over MCP; istiod reads
// aeraki (xds://) and the API server (k8s://).
//
// An ADS client posing as the waypoint's Envoy gets from istiod a
// main_internal whose chain for each service carries aeraki's filter with
// the MetaRouter's routes, every cluster those routes name is in the CDS
// istiod sends it, editing a MetaRouter changes the waypoint's LDS, and a
// DubboAuthorizationPolicy on callers puts network RBAC on
// io.istio.peer_principal before dubbo_proxy in istiod's chain; a
// delta client posing as a ztunnel gets the Dubbo service's WDS entry
// naming the waypoint. The chain and cluster names are istiod's (package
// istiodwaypoint): when istiod renames them this test fails naming what
// it no longer finds.
func TestIstiodWaypointServesAerakiRoutes(t *testing.T) {
	testenv.RequireIstiod(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	_, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir(), testenv.GatewayAPICRDDir())
	k := testenv.RequireKubectl(t, kubeconfig)
	k.Must(t, "create", "namespace", "istio-system")
	k.Must(t, "apply", "-f", filepath.Join(root, "crd"))
	k.Must(t, "wait", "--for", "condition=established", "--timeout", "60s", "-f", filepath.Join(root, "crd"))
	example := filepath.Join(root, "examples", "ambient-istio-waypoint")
	k.Must(t, "apply", "-f", example)
	// The API server drops status on create: write what the kubelet and
	// istiod's Gateway controller would.
	for pod, ip := range map[string]string{wpPod: wpPodIP, "dubbo-provider-v1-7b9d4-abcde": "10.244.2.11", "dubbo-provider-v2-5c8f6-fghij": "10.244.2.12",
		"thrift-hello-v1-6d5c4-bcdef": "10.244.2.21", "thrift-hello-v2-8f7e6-cdefg": "10.244.2.22", "dubbo-consumer-84c6d-klmno": "10.244.1.10"} {
		k.Must(t, "patch", "pod", "-n", wpNamespace, pod, "--subresource=status", "--type=merge",
			"-p", fmt.Sprintf(`{"status":{"phase":"Running","podIP":%q,"podIPs":[{"ip":%q}],"conditions":[{"type":"Ready","status":"True"}]}}`, ip, ip))
	}
	k.Must(t, "patch", "gateway", "-n", wpNamespace, wpName, "--subresource=status", "--type=merge",
		"-p", fmt.Sprintf(`{"status":{"addresses":[{"type":"IPAddress","value":%q}]}}`, wpAddress))

	s := serve(t, "--kubeconfig", kubeconfig, "--debounce", "100ms")
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, MCPAddress: s.xds, Env: []string{
		"PILOT_ENABLE_AMBIENT=true",
		"PILOT_ENABLE_GATEWAY_API=true", // istiod reads waypoint Gateways through its Gateway API informers
	}})
	t.Logf("istiod ready (xds %s), reading aeraki at %s and the API server", ist.XDSAddr, s.xds)

	node := testenv.Sidecar{IP: wpPodIP, Pod: wpPod, Namespace: wpNamespace, Labels: map[string]string{
		"gateway.networking.k8s.io/gateway-name": wpName, "gateway.istio.io/managed": "istio.io-mesh-controller"},
		Meta: map[string]any{"SERVICE_ACCOUNT": "waypoint"}}.Node()
	node.Id = istiodwaypoint.NodeID(wpPodIP, wpPod, wpNamespace, "cluster.local")
	wp := watchWaypoint(t, ist.XDSAddr, node)

	dubboChain := istiodwaypoint.ChainName(dubboHost, 20880)
	thriftChain := istiodwaypoint.ChainName(thriftHost, 9090)
	wp.waitFor(t, "main_internal chains with aeraki's dubbo_proxy and thrift_proxy routes, every cluster in CDS", func(x *wpXDS) string {
		if msg := x.routesServed(dubboChain, "say-hello-to-v2", istiodwaypoint.ClusterName(dubboHost, 20880, "v2")); msg != "" {
			return msg
		}
		return x.routesServed(thriftChain, "sayHello", istiodwaypoint.ClusterName(thriftHost, 9090, "v2"))
	})

	wp.mu.Lock()
	for _, fc := range wp.latest.listeners[istiodwaypoint.MainInternal].GetFilterChains() {
		if fc.GetName() == dubboChain || fc.GetName() == thriftChain {
			var fs []string
			for _, f := range fc.GetFilters() {
				fs = append(fs, f.GetName())
			}
			t.Logf("istiod's chain %s: filters %v", fc.GetName(), fs)
		}
	}
	wp.mu.Unlock()

	start := time.Now()
	k.Must(t, "patch", "metarouter", "-n", wpNamespace, "dubbo-provider", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/routes/0/match/attributes/method/exact","value":"sayGoodbye"}]`)
	wp.waitFor(t, "the edited MetaRouter (sayGoodbye) in the waypoint's chain", func(x *wpXDS) string {
		routes, _ := x.chainRoutes(dubboChain)
		if !strings.Contains(routes, `"sayGoodbye"`) || strings.Contains(routes, `"sayHello"`) {
			return "dubbo_proxy routes still " + routes
		}
		return ""
	})
	t.Logf("kubectl patch reached istiod's waypoint through aeraki and istiod in %v", time.Since(start).Round(time.Millisecond))

	// A DubboAuthorizationPolicy on callers becomes network RBAC on the
	// caller's identity, which istiod's connect_terminate puts in filter
	// state: inserted before dubbo_proxy in istiod's chain.
	k.MustStdin(t, `apiVersion: dubbo.aeraki.io/v1alpha1
kind: DubboAuthorizationPolicy
metadata: {name: no-untrusted, namespace: ambient-istio}
spec:
  action: DENY
  rules:
  - from:
    - source: {namespaces: [untrusted]}
`, "apply", "-f", "-")
	wp.waitFor(t, "the DubboAuthorizationPolicy's RBAC before dubbo_proxy in istiod's chain", func(x *wpXDS) string {
		for _, fc := range x.listeners[istiodwaypoint.MainInternal].GetFilterChains() {
			if fc.GetName() != dubboChain {
				continue
			}
			var names []string
			for _, f := range fc.GetFilters() {
				names = append(names, f.GetName())
			}
			want := []string{istiodwaypoint.MetadataExchangeFilter, "envoy.filters.network.rbac", "envoy.filters.network.dubbo_proxy"}
			if strings.Join(names, ",") != strings.Join(want, ",") {
				return fmt.Sprintf("chain %s filters %v, want %v", dubboChain, names, want)
			}
			rbac := &rbacv3.RBAC{}
			if err := fc.GetFilters()[1].GetTypedConfig().UnmarshalTo(rbac); err != nil {
				return err.Error()
			}
			if b, _ := protojson.Marshal(rbac); !strings.Contains(string(b), "io.istio.peer_principal") || !strings.Contains(string(b), "untrusted") {
				return "the RBAC filter does not check io.istio.peer_principal"
			}
			return ""
		}
		return "no chain " + dubboChain
	})

	// A ztunnel asking istiod for workloads learns that the Dubbo
	// service is behind the waypoint.
	if got := ztunnelWDS(t, ist.XDSAddr, wpNamespace, "dubbo-provider"); got.ip != wpAddress || got.port != istiodwaypoint.HBONEPort {
		t.Errorf("istiod's WDS names waypoint %s:%d for %s, want %s:%d", got.ip, got.port, dubboHost, wpAddress, istiodwaypoint.HBONEPort)
	} else {
		t.Logf("ztunnel WDS: %s behind waypoint %s:%d", dubboHost, got.ip, got.port)
	}
}

// wpXDS is the latest LDS and CDS a waypoint received.
type wpXDS struct {
	listeners map[string]*listenerv3.Listener
	clusters  map[string]*clusterv3.Cluster
}

// chainRoutes returns the route table of aeraki's filter in chain of
// main_internal as JSON, and the clusters it names.
func (x *wpXDS) chainRoutes(chain string) (string, []string) {
	l := x.listeners[istiodwaypoint.MainInternal]
	for _, fc := range l.GetFilterChains() {
		if fc.GetName() != chain {
			continue
		}
		for _, f := range fc.GetFilters() {
			switch f.GetName() {
			case "envoy.filters.network.dubbo_proxy":
				dp := &dubbov3.DubboProxy{}
				if f.GetTypedConfig().UnmarshalTo(dp) != nil {
					return "", nil
				}
				var clusters []string
				for _, rc := range dp.GetMultipleRouteConfig().GetRouteConfig() {
					for _, r := range rc.GetRoutes() {
						if c := r.GetRoute().GetCluster(); c != "" {
							clusters = append(clusters, c)
						}
						for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
							clusters = append(clusters, w.GetName())
						}
					}
				}
				b, _ := json.Marshal(dp.GetMultipleRouteConfig())
				return string(b), clusters
			case "envoy.filters.network.thrift_proxy":
				tp := &thriftv3.ThriftProxy{}
				if f.GetTypedConfig().UnmarshalTo(tp) != nil {
					return "", nil
				}
				var clusters []string
				for _, r := range tp.GetRouteConfig().GetRoutes() {
					if c := r.GetRoute().GetCluster(); c != "" {
						clusters = append(clusters, c)
					}
					for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
						clusters = append(clusters, w.GetName())
					}
				}
				b, _ := json.Marshal(tp.GetRouteConfig())
				return string(b), clusters
			}
		}
		return "", nil
	}
	return "", nil
}

// routesServed says what is missing ("" when nothing) for chain to carry
// aeraki's routes with want in them, routing to cluster, every cluster
// named being in the waypoint's CDS.
func (x *wpXDS) routesServed(chain, want, cluster string) string {
	l := x.listeners[istiodwaypoint.MainInternal]
	if l == nil {
		return fmt.Sprintf("no listener %s in LDS (listeners %v): has istiod renamed it?", istiodwaypoint.MainInternal, keys(x.listeners))
	}
	var chains []string
	found := false
	for _, fc := range l.GetFilterChains() {
		chains = append(chains, fc.GetName())
		found = found || fc.GetName() == chain
	}
	if !found {
		return fmt.Sprintf("no chain %s in %s (chains %v): has istiod renamed it?", chain, istiodwaypoint.MainInternal, chains)
	}
	routes, clusters := x.chainRoutes(chain)
	if routes == "" {
		return fmt.Sprintf("chain %s has no dubbo_proxy/thrift_proxy from aeraki yet", chain)
	}
	if !strings.Contains(routes, want) || !strings.Contains(routes, cluster) {
		return fmt.Sprintf("chain %s routes %s lack %q or %q", chain, routes, want, cluster)
	}
	if len(clusters) == 0 {
		return fmt.Sprintf("chain %s routes name no cluster: %s", chain, routes)
	}
	for _, c := range clusters {
		if x.clusters[c] == nil {
			return fmt.Sprintf("chain %s routes to %s, which is not in the waypoint's CDS (%v): has istiod renamed its clusters?", chain, c, keys(x.clusters))
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wpWatch is a waypoint's ADS stream to istiod (CDS and LDS), read in the
// background; every response is ACKed.
type wpWatch struct {
	mu     sync.Mutex
	latest wpXDS
	err    error
	update chan struct{}
}

func watchWaypoint(t *testing.T, addr string, node *corev3.Node) *wpWatch {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := &wpWatch{latest: wpXDS{listeners: map[string]*listenerv3.Listener{}, clusters: map[string]*clusterv3.Cluster{}}, update: make(chan struct{}, 1)}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); conn.Close(); <-done })
	first := true
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typ}
		if first {
			req.Node = node
			first = false
		}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		defer close(done)
		for {
			r, err := stream.Recv()
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				w.notify()
				return
			}
			_ = stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.GetTypeUrl(), VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
			w.mu.Lock()
			switch r.GetTypeUrl() {
			case resourcev3.ListenerType:
				m := map[string]*listenerv3.Listener{}
				for _, a := range r.GetResources() {
					l := &listenerv3.Listener{}
					if a.UnmarshalTo(l) == nil {
						m[l.GetName()] = l
					}
				}
				w.latest.listeners = m
			case resourcev3.ClusterType:
				m := map[string]*clusterv3.Cluster{}
				for _, a := range r.GetResources() {
					c := &clusterv3.Cluster{}
					if a.UnmarshalTo(c) == nil {
						m[c.GetName()] = c
					}
				}
				w.latest.clusters = m
			}
			w.mu.Unlock()
			w.notify()
		}
	}()
	return w
}

func (w *wpWatch) notify() {
	select {
	case w.update <- struct{}{}:
	default:
	}
}

// waitFor waits until missing(latest) is "", failing after a generous
// bound with the last thing missing.
func (w *wpWatch) waitFor(t *testing.T, what string, missing func(*wpXDS) string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	last := "nothing received"
	for {
		w.mu.Lock()
		x, err := w.latest, w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("waypoint's ADS stream to istiod: %v", err)
		}
		if len(x.listeners) > 0 {
			if last = missing(&x); last == "" {
				return
			}
		}
		select {
		case <-w.update:
		case <-deadline:
			t.Fatalf("istiod did not send the waypoint %s within 2 minutes: %s", what, last)
		}
	}
}
