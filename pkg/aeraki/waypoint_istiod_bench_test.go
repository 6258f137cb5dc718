package aeraki

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/hbonenames"
	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// The namespace of the side-by-side mesh and its two waypoints: istiod's
// (class istio-waypoint) and aeraki's (class aeraki-waypoint). The
// namespace's istio.io/use-waypoint label binds every service to one of
// them at a time.
const (
	benchNS       = "bench"
	benchIstioWP  = "istio-wp"
	benchAerakiWP = "aeraki-wp"
	benchWPPodIP  = "10.244.0.10"
)

var gvrGateway = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}

// BenchmarkWaypointVsIstiod puts aeraki's waypoint config next to istiod's
// for the same mesh, on the real kube-apiserver and the real istiod in
// ambient mode (internal/testenv). The benchmark loads N Services with a
// Dubbo port (tcp-dubbo 20880), a DestinationRule with subsets v1 and v2,
// two Pods (v1, v2, Running with an IP, captured by istio-cni) and an
// EndpointSlice each, into one ambient namespace whose
// istio.io/use-waypoint label binds them all to a waypoint, with two waypoint Gateways (status.addresses written as
// istiod's or aeraki's controller would), their Services and istiod's
// waypoint Pod.
//
// First aeraki (`serve --kubeconfig`, the namespace bound to aeraki-wp,
// the waypoint controller off since no Pods run here): an ADS client
// posing as the waypoint (node id waypoint/bench/aeraki-wp, on the
// plaintext address with --insecure-plaintext-proxies) asks for CDS and
// LDS, then EDS for the EDS clusters. Then aeraki is stopped, the
// namespace is bound to istio-wp and istiod starts; the same client posing
// as istiod's waypoint Pod (waypoint~<ip>~<pod>.<ns>~<ns>.svc.cluster.local)
// asks the same. Reported per server: ms from the first request to the
// last of the three answers, and the bytes of each answer (the marshalled
// DiscoveryResponse). istiod builds on request, so its answer is its
// build; aeraki builds ahead and answers from a snapshot, so its build is
// reported apart: the waypoint's own (translate.ProxyCost from
// /debug/config_dump: its ProxyBuilder with the units it consumes, the
// checks and the assembly) and, as a second view, the whole first
// translation and generation (from the "config generated" log) of this
// mesh, whose objects are all the waypoint's inputs. The ratios
// aeraki/istiod: bytes, answer, build (the waypoint's build against
// istiod's answer), translation, and generation plus answer. Names and
// types of what each sent are logged (-v). Slow, so only when asked:
//
//	AERAKI_BENCH_ISTIOD=1000 KUBEBUILDER_ASSETS=$PWD/.cache/bin \
//	  go test ./pkg/aeraki -run '^$' -bench WaypointVsIstiod -benchtime 1x -v
func BenchmarkWaypointVsIstiod(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("AERAKI_BENCH_ISTIOD"))
	if n <= 0 {
		b.Skip("set AERAKI_BENCH_ISTIOD to the number of services to run it")
	}
	testenv.RequireIstiod(b)
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Skip(err)
	}
	cfg, kubeconfig := testenv.StartKubeWith(b, testenv.KubeOptions{ServiceCIDR: "10.96.0.0/12"},
		testenv.IstioCRDDir(), testenv.GatewayAPICRDDir(), root+"/crd")
	cfg.QPS, cfg.Burst = 2000, 4000
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	loadStart := time.Now()
	loadWaypointMesh(b, dyn, n)
	b.Logf("loaded %d services (x6 objects) into the API server in %s", n, time.Since(loadStart).Round(time.Second))

	// aeraki.
	bindNamespace(b, dyn, benchAerakiWP)
	xdsAddr, debug := freeAddr(b), freeAddr(b)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--kubeconfig", kubeconfig, "--plaintext-address", xdsAddr, "--debug-address", debug,
			"--monitoring-address", freeAddr(b), "--tls-address", "off", "--insecure-plaintext-proxies",
			"--waypoint-controller=false", "--log-format", "json"}, &bytes.Buffer{}, &stderr, builtin.Plugins()...)
	}()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + debug + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			b.Fatalf("aeraki not ready:\n%s", stderr.String())
		}
	}
	var ours, theirs *wpAnswer
	wpID := hbonenames.WaypointID(benchNS, benchAerakiWP)
	for range b.N {
		ours = askWaypoint(b, xdsAddr, &corev3.Node{Id: wpID}, n)
	}
	// aeraki builds ahead of the request, so its answer is not its build.
	// Its build of this waypoint is the proxy's cost, from the
	// translation that built it (the first: nothing changes after).
	cost := waypointCost(b, debug, wpID)
	cancel()
	<-done
	// The second view: the whole first translation and generation. Every
	// object of this mesh is an input of the waypoint (but istiod's
	// waypoint's Gateway, Service and Pod), so this is translating a mesh
	// of only its inputs, with what aeraki builds from them for other
	// proxies too: the ztunnels of the pods' nodes and the sidecar
	// EnvoyFilters of every service.
	gen, translation := firstGeneration(b, stderr.String())

	// istiod.
	bindNamespace(b, dyn, benchIstioWP)
	ist := testenv.StartIstiod(b, testenv.IstiodOptions{Kubeconfig: kubeconfig, ReadyTimeout: 5 * time.Minute, Env: []string{
		"PILOT_ENABLE_AMBIENT=true",
		"PILOT_ENABLE_GATEWAY_API=true", // istiod reads waypoint Gateways through its Gateway API informers
	}})
	node := testenv.Sidecar{IP: benchWPPodIP, Pod: benchIstioWP + "-0", Namespace: benchNS, Labels: map[string]string{
		"gateway.networking.k8s.io/gateway-name": benchIstioWP, "gateway.istio.io/managed": "istio.io-mesh-controller"},
		Meta: map[string]any{"SERVICE_ACCOUNT": benchIstioWP}}.Node()
	node.Id = istiodwaypoint.NodeID(benchWPPodIP, benchIstioWP+"-0", benchNS, "cluster.local")
	for range b.N {
		theirs = askWaypoint(b, ist.XDSAddr, node, n)
	}

	b.Logf("aeraki: %s", ours.describe())
	b.Logf("istiod: %s", theirs.describe())
	b.ReportMetric(float64(ours.took.Microseconds())/1000, "aeraki-ms")
	b.ReportMetric(float64(theirs.took.Microseconds())/1000, "istiod-ms")
	b.Logf("aeraki: waypoint build %s (units %s: %d consumed, %d built; assembly %s); first translation %s, generation %s",
		cost.build, cost.units, cost.UnitsConsumed, cost.UnitsBuilt, cost.assemble, translation, gen)
	b.ReportMetric(float64(cost.build.Microseconds())/1000, "aeraki-build-ms")
	b.ReportMetric(float64(translation.Microseconds())/1000, "aeraki-translation-ms")
	b.ReportMetric(float64(gen.Microseconds())/1000, "aeraki-generation-ms")
	b.ReportMetric(float64(ours.took)/float64(theirs.took), "answer-ratio")
	// istiod builds on request: its answer is its build.
	b.ReportMetric(float64(cost.build)/float64(theirs.took), "build-ratio")
	b.ReportMetric(float64(translation)/float64(theirs.took), "translation-ratio")
	b.ReportMetric(float64(gen+ours.took)/float64(theirs.took), "generation-ratio")
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.EndpointType} {
		short := strings.ToLower(typeShort(typ))
		b.ReportMetric(float64(ours.bytes[typ])/1024, "aeraki-"+short+"-KB")
		b.ReportMetric(float64(theirs.bytes[typ])/1024, "istiod-"+short+"-KB")
	}
	b.ReportMetric(float64(ours.total())/float64(theirs.total()), "bytes-ratio")
}

// firstGeneration is the duration the server logged for generation 1,
// and that of its translation.
func firstGeneration(b *testing.B, log string) (gen, translation time.Duration) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"config generated"`) || !strings.Contains(line, `"generation":1,`) {
			continue
		}
		b.Logf("aeraki: %s", line)
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			b.Fatalf("aeraki's log line %s: %v", line, err)
		}
		duration := func(field string) time.Duration {
			switch d := m[field].(type) {
			case float64:
				return time.Duration(d)
			case string:
				if v, err := time.ParseDuration(d); err == nil {
					return v
				}
			}
			b.Fatalf("aeraki's log line %s: no %s", line, field)
			return 0
		}
		return duration("duration"), duration("translate")
	}
	b.Fatalf("aeraki logged no generation 1:\n%s", log)
	return 0, 0
}

// wpCost is a proxy's build cost from aeraki's /debug/config_dump.
type wpCost struct {
	Build, Units, Assemble    string
	UnitsConsumed, UnitsBuilt int
	build, units, assemble    time.Duration
}

func waypointCost(b *testing.B, debug, id string) wpCost {
	resp, err := http.Get("http://" + debug + "/debug/config_dump?proxyID=" + id)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct{ Cost *wpCost }
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.Cost == nil {
		b.Fatalf("aeraki's config_dump of %s: no cost (%v)", id, err)
	}
	c := *d.Cost
	for _, f := range []struct {
		s string
		d *time.Duration
	}{{c.Build, &c.build}, {c.Units, &c.units}, {c.Assemble, &c.assemble}} {
		if *f.d, err = time.ParseDuration(f.s); err != nil {
			b.Fatalf("aeraki's config_dump of %s: cost %+v: %v", id, c, err)
		}
	}
	return c
}

// loadWaypointMesh creates the namespace, the two waypoints and the n
// services with a few writers in parallel.
func loadWaypointMesh(b *testing.B, dyn dynamic.Interface, n int) {
	ctx := context.Background()
	var firstErr atomic.Value // error
	create := func(gvr schema.GroupVersionResource, ns string, obj map[string]any, status map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: obj}
		r := dyn.Resource(gvr).Namespace(ns)
		if ns == "" {
			out, err := dyn.Resource(gvr).Create(ctx, u, metav1.CreateOptions{})
			if err != nil {
				firstErr.CompareAndSwap(nil, fmt.Errorf("creating %s %s: %w", gvr.Resource, u.GetName(), err))
			}
			return out
		}
		out, err := r.Create(ctx, u, metav1.CreateOptions{})
		if err == nil && status != nil {
			// The API server drops status on create: write what the
			// kubelet or the Gateway's controller would.
			p, _ := (&unstructured.Unstructured{Object: map[string]any{"status": status}}).MarshalJSON()
			_, err = r.Patch(ctx, u.GetName(), types.MergePatchType, p, metav1.PatchOptions{}, "status")
		}
		if err != nil {
			firstErr.CompareAndSwap(nil, fmt.Errorf("creating %s %s/%s: %w", gvr.Resource, ns, u.GetName(), err))
		}
		return out
	}
	running := func(ip string) map[string]any {
		return map[string]any{"phase": "Running", "podIP": ip, "podIPs": []any{map[string]any{"ip": ip}},
			"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}
	}
	create(gvrNamespace, "", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "istio-system"}}, nil)
	create(gvrNamespace, "", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": benchNS,
		"labels": map[string]any{"istio.io/dataplane-mode": "ambient"}}}, nil)
	for _, wp := range []struct{ name, class string }{{benchIstioWP, "istio-waypoint"}, {benchAerakiWP, "aeraki-waypoint"}} {
		svc := create(gvrService, benchNS, map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": wp.name,
			"labels": map[string]any{"gateway.networking.k8s.io/gateway-name": wp.name, "istio.io/use-waypoint": "none"}},
			"spec": map[string]any{"selector": map[string]any{"gateway.networking.k8s.io/gateway-name": wp.name},
				"ports": []any{map[string]any{"name": "mesh", "port": int64(15008)}, map[string]any{"name": "status-port", "port": int64(15021)}}}}, nil)
		if svc == nil {
			b.Fatal(firstErr.Load())
		}
		ip, _, _ := unstructured.NestedString(svc.Object, "spec", "clusterIP")
		create(gvrGateway, benchNS, map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": map[string]any{"name": wp.name},
			"spec": map[string]any{"gatewayClassName": wp.class, "listeners": []any{map[string]any{"name": "mesh", "port": int64(15008), "protocol": "HBONE"}}}},
			map[string]any{"addresses": []any{map[string]any{"type": "IPAddress", "value": ip}}})
	}
	create(gvrPod, benchNS, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": benchIstioWP + "-0",
		"labels": map[string]any{"gateway.networking.k8s.io/gateway-name": benchIstioWP, "gateway.istio.io/managed": "istio.io-mesh-controller"}},
		"spec": map[string]any{"nodeName": "node-0", "serviceAccountName": benchIstioWP, "containers": []any{map[string]any{"name": "istio-proxy", "image": "istio/proxyv2"}}}},
		running(benchWPPodIP))
	if err := firstErr.Load(); err != nil {
		b.Fatal(err)
	}

	inParallel(b, n, &firstErr, func(i int) {
		name := fmt.Sprintf("svc-%05d", i)
		host := name + "." + benchNS + ".svc.cluster.local"
		create(gvrService, benchNS, map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": name},
			"spec": map[string]any{"selector": map[string]any{"app": name}, "ports": []any{map[string]any{"name": "tcp-dubbo", "port": int64(20880)}}}}, nil)
		create(gvrDR, benchNS, map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": map[string]any{"name": name},
			"spec": map[string]any{"host": host, "subsets": []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}, map[string]any{"name": "v2", "labels": map[string]any{"version": "v2"}}}}}, nil)
		var endpoints []any
		for v := range 2 {
			pod := fmt.Sprintf("%s-v%d", name, v+1)
			ip := fmt.Sprintf("10.%d.%d.%d", 128+v, i>>8&255, i&255)
			create(gvrPod, benchNS, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": pod,
				"labels": map[string]any{"app": name, "version": fmt.Sprintf("v%d", v+1)},
				// What istio-cni writes on a captured pod: istiod then sends
				// HBONE endpoints (pilot/pkg/serviceregistry/ambient/workloads.go,
				// setTunnelProtocol), as to a real ambient mesh.
				"annotations": map[string]any{"ambient.istio.io/redirection": "enabled"}},
				"spec": map[string]any{"nodeName": fmt.Sprintf("node-%d", i%10), "containers": []any{map[string]any{"name": "app", "image": "dubbo", "ports": []any{map[string]any{"containerPort": int64(20880)}}}}}},
				running(ip))
			endpoints = append(endpoints, map[string]any{"addresses": []any{ip}, "conditions": map[string]any{"ready": true},
				"targetRef": map[string]any{"kind": "Pod", "name": pod, "namespace": benchNS}})
		}
		create(gvrEndpointSlice, benchNS, map[string]any{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
			"metadata":    map[string]any{"name": name + "-0", "labels": map[string]any{"kubernetes.io/service-name": name}},
			"addressType": "IPv4", "ports": []any{map[string]any{"name": "tcp-dubbo", "port": int64(20880)}},
			"endpoints": endpoints}, nil)
	})
}

// bindNamespace points the namespace's istio.io/use-waypoint at wp.
func bindNamespace(b *testing.B, dyn dynamic.Interface, wp string) {
	p := fmt.Sprintf(`{"metadata":{"labels":{"istio.io/use-waypoint":%q}}}`, wp)
	if _, err := dyn.Resource(gvrNamespace).Patch(context.Background(), benchNS, types.MergePatchType, []byte(p), metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
}

// wpAnswer is a waypoint's first LDS, CDS and EDS answers from one server.
type wpAnswer struct {
	took      time.Duration // first request to the last of the three answers
	at        map[string]time.Duration
	bytes     map[string]int
	listeners []*listenerv3.Listener
	clusters  []*clusterv3.Cluster
	loads     []*endpointv3.ClusterLoadAssignment
}

func (a *wpAnswer) total() int {
	t := 0
	for _, v := range a.bytes {
		t += v
	}
	return t
}

func typeShort(typ string) string {
	switch typ {
	case resourcev3.ListenerType:
		return "LDS"
	case resourcev3.ClusterType:
		return "CDS"
	case resourcev3.EndpointType:
		return "EDS"
	}
	return typ
}

// describe names what the server sent: per type the count, bytes and
// arrival, the listeners with their chains and filters (the first few
// chains of each), and a sample of clusters by discovery type.
func (a *wpAnswer) describe() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "answered in %s;", a.took.Round(time.Microsecond))
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.EndpointType} {
		fmt.Fprintf(&sb, " %s %d B at %s;", typeShort(typ), a.bytes[typ], a.at[typ].Round(time.Microsecond))
	}
	fmt.Fprintf(&sb, "\n  %d listeners:", len(a.listeners))
	for _, l := range a.listeners {
		fmt.Fprintf(&sb, "\n    %s (%d B, %d chains, listener filters %v)", l.GetName(), proto.Size(l), len(l.GetFilterChains()), listenerFilterNames(l))
		for i, fc := range l.GetFilterChains() {
			// The first chains and the chains of one service.
			if i >= 3 && !strings.Contains(fc.GetName(), "svc-00000.") {
				continue
			}
			var fs []string
			for _, f := range fc.GetFilters() {
				fs = append(fs, f.GetName())
			}
			fmt.Fprintf(&sb, "\n      chain %q (%d B): %v", fc.GetName(), proto.Size(fc), fs)
		}
	}
	byType := map[string][]string{}
	for _, c := range a.clusters {
		k := c.GetType().String()
		if c.GetClusterType() != nil {
			k = c.GetClusterType().GetName()
		}
		byType[k] = append(byType[k], fmt.Sprintf("%s (%d B)", c.GetName(), proto.Size(c)))
	}
	fmt.Fprintf(&sb, "\n  %d clusters:", len(a.clusters))
	for _, k := range keys(byType) {
		names := byType[k]
		sort.Strings(names)
		fmt.Fprintf(&sb, "\n    %s x%d: %s", k, len(names), strings.Join(names[:min(4, len(names))], ", "))
	}
	eps := 0
	for _, la := range a.loads {
		for _, le := range la.GetEndpoints() {
			eps += len(le.GetLbEndpoints())
		}
	}
	fmt.Fprintf(&sb, "\n  %d load assignments, %d endpoints", len(a.loads), eps)
	if len(a.loads) > 0 {
		fmt.Fprintf(&sb, "; e.g. %s (%d B)", a.loads[0].GetClusterName(), proto.Size(a.loads[0]))
	}
	// One service's chain, clusters and load assignments in full, to
	// compare field by field.
	const one = "svc-00000."
	for _, l := range a.listeners {
		for _, fc := range l.GetFilterChains() {
			if strings.Contains(fc.GetName(), one) {
				fmt.Fprintf(&sb, "\n  chain: %s", protojson.Format(fc))
			}
		}
	}
	for _, c := range a.clusters {
		if strings.Contains(c.GetName(), one) {
			fmt.Fprintf(&sb, "\n  cluster: %s", protojson.Format(c))
		}
	}
	for _, la := range a.loads {
		if strings.Contains(la.GetClusterName(), one) {
			fmt.Fprintf(&sb, "\n  load assignment: %s", protojson.Format(la))
		}
	}
	return sb.String()
}

func listenerFilterNames(l *listenerv3.Listener) []string {
	var out []string
	for _, f := range l.GetListenerFilters() {
		out = append(out, f.GetName())
	}
	return out
}

// askWaypoint opens one ADS stream as node, asks for CDS and LDS, then
// EDS for the EDS clusters CDS named, ACKs every answer, and returns the
// first answer of each type. A server that has more to say after its
// first CDS (istiod may push again while it settles) is not waited for:
// the first answer is what a starting waypoint gets.
func askWaypoint(b *testing.B, addr string, node *corev3.Node, n int) *wpAnswer {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		b.Fatal(err)
	}
	a := &wpAnswer{at: map[string]time.Duration{}, bytes: map[string]int{}}
	start := time.Now()
	send := func(req *discoveryv3.DiscoveryRequest) {
		if err := stream.Send(req); err != nil {
			b.Fatalf("ADS to %s as %s: %v", addr, node.GetId(), err)
		}
	}
	send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType})
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	edsAsked := false
	for len(a.at) < 3 {
		r, err := stream.Recv()
		if err != nil {
			b.Fatalf("ADS to %s as %s: %v (got %v)", addr, node.GetId(), err, keys(a.at))
		}
		got := time.Since(start)
		typ := r.GetTypeUrl()
		first := false
		if _, seen := a.at[typ]; !seen {
			a.at[typ], a.bytes[typ], first = got, proto.Size(r), true
		}
		var edsNames []string
		for _, res := range r.GetResources() {
			if !first {
				break
			}
			switch typ {
			case resourcev3.ListenerType:
				l := &listenerv3.Listener{}
				if err := res.UnmarshalTo(l); err != nil {
					b.Fatal(err)
				}
				a.listeners = append(a.listeners, l)
			case resourcev3.ClusterType:
				c := &clusterv3.Cluster{}
				if err := res.UnmarshalTo(c); err != nil {
					b.Fatal(err)
				}
				a.clusters = append(a.clusters, c)
				if c.GetType() == clusterv3.Cluster_EDS {
					name := c.GetName()
					if sn := c.GetEdsClusterConfig().GetServiceName(); sn != "" {
						name = sn
					}
					edsNames = append(edsNames, name)
				}
			case resourcev3.EndpointType:
				la := &endpointv3.ClusterLoadAssignment{}
				if err := res.UnmarshalTo(la); err != nil {
					b.Fatal(err)
				}
				a.loads = append(a.loads, la)
			}
		}
		send(&discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
		if typ == resourcev3.ClusterType && first {
			if len(edsNames) < n {
				b.Logf("%s sent %d EDS clusters for %d services", node.GetId(), len(edsNames), n)
			}
			if len(edsNames) == 0 {
				a.at[resourcev3.EndpointType] = got // nothing to ask
			} else if !edsAsked {
				edsAsked = true
				send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: edsNames})
			}
		}
	}
	for _, d := range a.at {
		a.took = max(a.took, d)
	}
	return a
}
