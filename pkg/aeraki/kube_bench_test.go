package aeraki

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// BenchmarkKubeColdStart is Kubernetes mode at scale on the real
// kube-apiserver (internal/testenv): it loads N Dubbo Services in 100
// namespaces, each with a DestinationRule, a MetaRouter, a Pod and an
// EndpointSlice, starts `aeraki serve --kubeconfig` in this process and
// reports the time to /ready (which waits for the informers' sync and the
// first generation) and to the first full MCP answer, the peak heap of the
// process while starting, and the latency of MetaRouter edits from the
// API server's answer to the write to the MCP client's receipt of the
// changed EnvoyFilter, with the default debounce. It is slow (loading the
// objects takes minutes), so it runs only when asked:
//
//	AERAKI_BENCH_KUBE=10000 KUBEBUILDER_ASSETS=$PWD/.cache/bin \
//	  go test ./pkg/aeraki -run '^$' -bench KubeColdStart -benchtime 1x
func BenchmarkKubeColdStart(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("AERAKI_BENCH_KUBE"))
	if n <= 0 {
		b.Skip("set AERAKI_BENCH_KUBE to the number of services to run it")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Skip(err)
	}
	cfg, kubeconfig := testenv.StartKubeWith(b, testenv.KubeOptions{ServiceCIDR: "10.96.0.0/12"}, testenv.IstioCRDDir(), filepath.Join(root, "crd"))
	cfg.QPS, cfg.Burst = 2000, 4000
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	loadStart := time.Now()
	loadMesh(b, dyn, n)
	b.Logf("loaded %d services (x5 objects) into the API server in %s", n, time.Since(loadStart).Round(time.Second))

	for range b.N {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stopSampling := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-stopSampling:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()

		// AERAKI_BENCH_KUBE_CPUPROFILE=<prefix> profiles the process from
		// the start to the first full MCP answer (<prefix>-start.prof) and
		// while the edits run (<prefix>-edits.prof).
		stopProfile := cpuProfile(b, "start")
		xds, debug := freeAddr(b), freeAddr(b)
		ctx, cancel := context.WithCancel(context.Background())
		var stderr syncBuffer
		done := make(chan int, 1)
		start := time.Now()
		go func() {
			args := []string{"serve", "--kubeconfig", kubeconfig, "--plaintext-address", xds, "--debug-address", debug,
				"--monitoring-address", freeAddr(b), "--tls-address", "off", "--log-format", "json", "--log-level", "debug"}
			// AERAKI_BENCH_KUBE_ARGS adds flags to the serve command (split
			// at spaces), to compare settings in one binary.
			args = append(args, strings.Fields(os.Getenv("AERAKI_BENCH_KUBE_ARGS"))...)
			done <- Run(ctx, args, &bytes.Buffer{}, &stderr, builtin.Plugins()...)
		}()
		var ready time.Duration
		for deadline := time.Now().Add(10 * time.Minute); ready == 0; time.Sleep(20 * time.Millisecond) {
			if resp, err := http.Get("http://" + debug + "/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = time.Since(start)
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("not ready:\n%s", stderr.String())
			}
		}
		name := "aeraki-outbound-svc-00000.ns-00.svc.cluster.local" // the EnvoyFilter the edits change
		w := newVersionWatcher(b, xds, name)
		first := w.waitCount(b, 2*n, 5*time.Minute)
		stopProfile()
		close(stopSampling)
		<-sampled

		// Edits: a MetaRouter's sayHello goes to v1, then back to v2
		// (profiled into <prefix>-edits.prof, above).
		var edits []time.Duration
		stopProfile = cpuProfile(b, "edits")
		defer stopProfile()
		// AERAKI_BENCH_KUBE_MEMPROFILE=<prefix> writes the heap profile
		// before the edits and after them: what the edits allocated is
		// `go tool pprof -sample_index=alloc_space -base <prefix>-before-edits.prof <prefix>-after-edits.prof`.
		// Each is preceded by a collection (a profile is as of the last
		// one), which moves the edits' collections: latencies of such a
		// run are not comparable with the others.
		heapProfile(b, "before-edits")
		var gcBefore runtime.MemStats
		runtime.ReadMemStats(&gcBefore)
		// Twenty, one after the other, the first right after the first
		// full answer (while its garbage and the first status pass are
		// still about): five gave no stable p50, and the first edits of a
		// run were the slow ones.
		for i := range benchEdits() {
			before := w.version(name)
			subset := []string{"v1", "v2"}[i%2]
			written := updateRouter(b, dyn, subset)
			got := w.waitChange(b, name, before, time.Minute)
			edits = append(edits, got.Sub(written))
			b.Logf("edit %d: written %s, received %s (%s)", i, written.UTC().Format(time.RFC3339Nano), got.UTC().Format(time.RFC3339Nano), got.Sub(written).Round(time.Millisecond))
		}
		var gcAfter runtime.MemStats
		runtime.ReadMemStats(&gcAfter)
		heapProfile(b, "after-edits")
		firstEdit := edits[0]
		sort.Slice(edits, func(i, j int) bool { return edits[i] < edits[j] })
		cancel()
		<-done

		b.ReportMetric(float64(ready.Milliseconds()), "ms-to-ready")
		b.ReportMetric(float64(first.Sub(start).Milliseconds()), "ms-to-first-full-mcp")
		b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), "MB-peak-heap")
		b.ReportMetric(float64(firstEdit.Milliseconds()), "ms-edit-first")
		b.ReportMetric(float64(edits[len(edits)/2].Milliseconds()), "ms-edit-p50")
		b.ReportMetric(float64(edits[max(0, len(edits)*9/10-1)].Milliseconds()), "ms-edit-p90")
		b.ReportMetric(float64(edits[len(edits)-1].Milliseconds()), "ms-edit-max")
		over := 0
		for _, e := range edits {
			if e >= 200*time.Millisecond {
				over++
			}
		}
		b.ReportMetric(float64(over), "edits-over-200ms")
		// The collections of aeraki's heap during the edits, and what the
		// process allocated per edit (the benchmark's own allocations are
		// a few KB of it): an edit that runs beside a collection is slower.
		b.ReportMetric(float64(gcAfter.NumGC-gcBefore.NumGC), "gc-during-edits")
		b.ReportMetric(float64(gcAfter.TotalAlloc-gcBefore.TotalAlloc)/float64(len(edits))/(1<<20), "MB-alloc-per-edit")
		// What the last collection found live, and how much of it the
		// collector had to scan (memory that holds pointers): a
		// collection's mark work, so how long an edit beside it suffers.
		heap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}}
		metrics.Read(heap)
		b.ReportMetric(float64(heap[0].Value.Uint64())/(1<<20), "MB-live-heap")
		b.ReportMetric(float64(heap[1].Value.Uint64())/(1<<20), "MB-scannable-heap")
		w.mu.Lock()
		b.ReportMetric(float64(w.bytes)/(1<<20), "MB-per-mcp-answer")
		w.mu.Unlock()
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"watching the API server"`) || strings.Contains(line, `"config generated"`) && strings.Contains(line, `"generation":1,`) {
				b.Logf("%s", line)
				// The source logs "watching" once its informers have synced.
				if t, err := time.Parse(time.RFC3339Nano, strings.SplitN(strings.TrimPrefix(line, `{"time":"`), `"`, 2)[0]); err == nil {
					metric := "ms-to-informer-sync"
					if strings.Contains(line, `"config generated"`) {
						metric = "ms-to-first-generation"
					}
					b.ReportMetric(float64(t.Sub(start).Milliseconds()), metric)
				}
			}
		}
		// What each snapshot and generation cost, from the logs.
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"config generated"`) || strings.Contains(line, `"built snapshot from the API server"`) || strings.Contains(line, `"translated"`) {
				b.Logf("log: %s", line)
			}
		}
		b.Logf("ready %s, first full MCP answer %s, edits %v", ready, first.Sub(start), edits)
	}
}

// heapProfile writes the heap profile named after phase when
// AERAKI_BENCH_KUBE_MEMPROFILE is set.
func heapProfile(b *testing.B, phase string) {
	prefix := os.Getenv("AERAKI_BENCH_KUBE_MEMPROFILE")
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "-" + phase + ".prof")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// cpuProfile starts a CPU profile named after phase when
// AERAKI_BENCH_KUBE_CPUPROFILE is set, and returns what stops it.
func cpuProfile(b *testing.B, phase string) func() {
	prefix := os.Getenv("AERAKI_BENCH_KUBE_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "-" + phase + ".prof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }
}

var (
	gvrNamespace     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrService       = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrPod           = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrEndpointSlice = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
	gvrDR            = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	gvrMetaRouter    = schema.GroupVersionResource{Group: "metaprotocol.aeraki.io", Version: "v1alpha1", Resource: "metarouters"}
)

func metaRouter(name, ns, subset string) *unstructured.Unstructured {
	host := name + "." + ns + ".svc.cluster.local"
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metaprotocol.aeraki.io/v1alpha1", "kind": "MetaRouter",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{"hosts": []any{host}, "routes": []any{
			map[string]any{"name": "hello", "match": map[string]any{"attributes": map[string]any{"method": map[string]any{"exact": "sayHello"}}},
				"route": []any{map[string]any{"destination": map[string]any{"host": host, "subset": subset}}}},
			map[string]any{"name": "default", "route": []any{map[string]any{"destination": map[string]any{"host": host, "subset": "v1"}}}},
		}},
	}}
}

// loadMesh creates the objects with a few writers in parallel.
func loadMesh(b *testing.B, dyn dynamic.Interface, n int) {
	ctx := context.Background()
	var firstErr atomic.Value // error
	create := func(gvr schema.GroupVersionResource, ns string, obj map[string]any) {
		u := &unstructured.Unstructured{Object: obj}
		var err error
		if ns == "" {
			_, err = dyn.Resource(gvr).Create(ctx, u, metav1.CreateOptions{})
		} else {
			_, err = dyn.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
		}
		if err != nil {
			firstErr.CompareAndSwap(nil, fmt.Errorf("creating %s %s/%v: %w", gvr.Resource, ns, u.GetName(), err))
			return
		}
	}
	for i := range 100 {
		create(gvrNamespace, "", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": fmt.Sprintf("ns-%02d", i)}})
	}
	create(gvrNamespace, "", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "istio-system"}})
	inParallel(b, n, &firstErr, func(i int) {
		name, ns := fmt.Sprintf("svc-%05d", i), fmt.Sprintf("ns-%02d", i%100)
		host := name + "." + ns + ".svc.cluster.local"
		ip := fmt.Sprintf("10.%d.%d.%d", 100+i>>16&255, i>>8&255, i&255)
		labels := map[string]any{"app": name, "version": "v1"}
		create(gvrService, ns, map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": name},
			"spec": map[string]any{"selector": map[string]any{"app": name}, "ports": []any{map[string]any{"name": "tcp-dubbo", "port": int64(20880)}}}})
		create(gvrDR, ns, map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": map[string]any{"name": name},
			"spec": map[string]any{"host": host, "subsets": []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}, map[string]any{"name": "v2", "labels": map[string]any{"version": "v2"}}}}})
		create(gvrMetaRouter, ns, metaRouter(name, ns, "v2").Object)
		create(gvrPod, ns, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name + "-0", "labels": labels},
			"spec": map[string]any{"nodeName": fmt.Sprintf("node-%d", i%100), "containers": []any{map[string]any{"name": "app", "image": "dubbo"}}}})
		create(gvrEndpointSlice, ns, map[string]any{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
			"metadata":    map[string]any{"name": name + "-0", "labels": map[string]any{"kubernetes.io/service-name": name}},
			"addressType": "IPv4", "ports": []any{map[string]any{"name": "tcp-dubbo", "port": int64(20880)}},
			"endpoints": []any{map[string]any{"addresses": []any{ip}, "conditions": map[string]any{"ready": true},
				"targetRef": map[string]any{"kind": "Pod", "name": name + "-0", "namespace": ns}}}})
	})
}

// updateRouter points svc-00000's sayHello at subset and returns when the
// API server answered the write. aeraki's status writer updates the same
// object, so a write may lose the optimistic-concurrency race: it is
// retried with the current resourceVersion, a bounded number of times.
func updateRouter(b *testing.B, dyn dynamic.Interface, subset string) time.Time {
	ctx := context.Background()
	routers := dyn.Resource(gvrMetaRouter).Namespace("ns-00")
	for attempt := 0; ; attempt++ {
		cur, err := routers.Get(ctx, "svc-00000", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		next := metaRouter("svc-00000", "ns-00", subset)
		next.SetResourceVersion(cur.GetResourceVersion())
		_, err = routers.Update(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			return time.Now()
		}
		if !apierrors.IsConflict(err) || attempt == 9 {
			b.Fatal(err)
		}
	}
}

// versionWatcher follows an MCP client posing as istiod, which runs in a
// process of its own (TestMCPWatcherProcess, the test binary started
// again), as istiod does: its receive buffers, its decoding and its
// garbage are not aeraki's, and its collector is not aeraki's collector.
// For every response it reports when the whole message had arrived
// (before anything is decoded), its size, how many EnvoyFilters it held
// and the versions of the EnvoyFilters it was asked to watch. It reads
// only names and versions, straight from the wire (parseMCPVersions),
// instead of decoding 20,000 mcp.Resources with their label maps after
// each answer.
type versionWatcher struct {
	mu       sync.Mutex
	changed  chan struct{}
	count    int               // EnvoyFilters in the last response
	versions map[string]string // of the watched EnvoyFilters
	at       time.Time
	bytes    int         // of the last response
	stderr   *syncBuffer // the client process's
}

// rawResponse is a DiscoveryResponse as it came off the wire, copied
// into b (reused from one response to the next, so the client does not
// allocate 20 MB per answer).
type rawResponse struct {
	at time.Time
	b  []byte
}

// receiptCodec is gRPC's proto codec, except that a *rawResponse is
// handed the message's bytes and the time they were complete.
type receiptCodec struct{ proto encoding.CodecV2 }

func (c receiptCodec) Name() string { return c.proto.Name() }

func (c receiptCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c receiptCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawResponse); ok {
		r.at = time.Now()
		if n := data.Len(); cap(r.b) < n {
			r.b = make([]byte, n)
		} else {
			r.b = r.b[:n]
		}
		data.CopyTo(r.b)
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// benchEdits is how many MetaRouter edits BenchmarkKubeColdStart times:
// 20, or AERAKI_BENCH_KUBE_EDITS (more edits reach past the cold start's
// garbage, into the collections the edits themselves bring).
func benchEdits() int {
	if n, err := strconv.Atoi(os.Getenv("AERAKI_BENCH_KUBE_EDITS")); err == nil && n > 0 {
		return n
	}
	return 20
}

// The child process's settings: the address to dial and the EnvoyFilters
// whose versions it reports.
const (
	watcherAddrEnv  = "AERAKI_BENCH_MCP_ADDR"
	watcherNamesEnv = "AERAKI_BENCH_MCP_NAMES"
)

// newVersionWatcher starts the MCP client process against addr, watching
// the versions of names.
func newVersionWatcher(b *testing.B, addr string, names ...string) *versionWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMCPWatcherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), watcherAddrEnv+"="+addr, watcherNamesEnv+"="+strings.Join(names, ","))
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); _ = cmd.Wait() })
	w := &versionWatcher{changed: make(chan struct{}), versions: map[string]string{}, stderr: &stderr}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// "resp <receipt unix ns> <bytes> <EnvoyFilters> [<name>=<version>...]"
			f := strings.Fields(sc.Text())
			if len(f) < 4 || f[0] != "resp" {
				continue
			}
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			size, _ := strconv.Atoi(f[2])
			count, _ := strconv.Atoi(f[3])
			versions := map[string]string{}
			for _, kv := range f[4:] {
				if k, v, ok := strings.Cut(kv, "="); ok {
					versions[k] = v
				}
			}
			w.mu.Lock()
			w.count, w.versions, w.at, w.bytes = count, versions, time.Unix(0, ns), size
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
		// It ends when aeraki stops at the end of the benchmark; before
		// that, a wait below fails and shows why.
	}()
	return w
}

// TestMCPWatcherProcess is BenchmarkKubeColdStart's MCP client, run by it
// in a process of its own (newVersionWatcher); run alone it skips.
func TestMCPWatcherProcess(t *testing.T) {
	addr := os.Getenv(watcherAddrEnv)
	if addr == "" {
		t.Skip("the MCP client of BenchmarkKubeColdStart, started by it")
	}
	var names []string
	if v := os.Getenv(watcherNamesEnv); v != "" {
		names = strings.Split(v, ",")
	}
	// Dialled as istiod dials an MCP config source: pilot/pkg/bootstrap/
	// configcontroller.go hands xds:// sources to adsc.New, whose
	// defaultGrpcDialOptions (pkg/adsc/adsc.go) fix both flow-control
	// windows at 1 MiB (which turns gRPC's BDP estimation off) and allow
	// messages up to math.MaxInt32. With gRPC's defaults instead (64 KiB
	// windows grown by BDP pings) the first answers of 20 MB crawled while
	// the windows grew, which istiod never sees.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(1<<20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := conn.NewStream(context.Background(), &discoveryv3.AggregatedDiscoveryService_ServiceDesc.Streams[0],
		"/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
		grpc.ForceCodecV2(receiptCodec{proto: encoding.GetCodecV2("proto")}))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := structpb.NewStruct(map[string]any{"GENERATOR": "api", "ISTIO_VERSION": "65536.65536.65536"})
	node := &corev3.Node{Id: "sidecar~192.0.2.2~istiod-bench.istio-system~istio-system.svc.cluster.local", Metadata: meta}
	if err := stream.SendMsg(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: testenv.EnvoyFilterCollection}); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	var r rawResponse
	for {
		if err := stream.RecvMsg(&r); err != nil {
			return // the benchmark is done with it
		}
		resp, err := parseMCPVersions(r.b)
		if err != nil {
			t.Fatalf("MCP response: %v", err)
		}
		fmt.Fprintf(out, "resp %d %d %d", r.at.UnixNano(), len(r.b), len(resp.versions))
		for _, n := range names {
			fmt.Fprintf(out, " %s=%s", n, resp.versions[n])
		}
		fmt.Fprintln(out)
		if err := out.Flush(); err != nil {
			return
		}
		_ = stream.SendMsg(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resp.typeURL, VersionInfo: resp.version, ResponseNonce: resp.nonce})
	}
}

// mcpVersions is what the watcher reads of a DiscoveryResponse.
type mcpVersions struct {
	version, nonce, typeURL string
	versions                map[string]string // EnvoyFilter name -> metadata.version
}

// parseMCPVersions reads a DiscoveryResponse's version, nonce, type URL
// and, from each Any(istio.mcp.v1alpha1.Resource), metadata.name (without
// its namespace) and metadata.version, skipping everything else.
// TestParseMCPVersions checks it against proto.Unmarshal.
func parseMCPVersions(b []byte) (mcpVersions, error) {
	out := mcpVersions{versions: map[string]string{}}
	err := eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			out.version = string(v)
		case 4:
			out.typeURL = string(v)
		case 5:
			out.nonce = string(v)
		case 2: // resources: Any
			return eachField(v, func(num protowire.Number, v []byte) error {
				if num != 2 { // Any.value: Resource
					return nil
				}
				return eachField(v, func(num protowire.Number, v []byte) error {
					if num != 1 { // Resource.metadata
						return nil
					}
					var name, version string
					if err := eachField(v, func(num protowire.Number, v []byte) error {
						switch num {
						case 1:
							name = string(v)
						case 3:
							version = string(v)
						}
						return nil
					}); err != nil {
						return err
					}
					out.versions[name[strings.Index(name, "/")+1:]] = version
					return nil
				})
			})
		}
		return nil
	})
	return out, err
}

// eachField calls f with each length-delimited field of a message and
// skips the others.
func eachField(b []byte, f func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := f(num, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (w *versionWatcher) version(name string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.versions[name]
}

// waitCount returns the arrival of the first response with at least n
// EnvoyFilters.
func (w *versionWatcher) waitCount(b *testing.B, n int, d time.Duration) time.Time {
	return w.wait(b, d, fmt.Sprintf("%d EnvoyFilters", n), func(count int, _ map[string]string) bool { return count >= n })
}

// waitChange returns the arrival of the response in which name's version
// is no longer before.
func (w *versionWatcher) waitChange(b *testing.B, name, before string, d time.Duration) time.Time {
	return w.wait(b, d, "a new version of "+name, func(_ int, v map[string]string) bool { return v[name] != "" && v[name] != before })
}

func (w *versionWatcher) wait(b *testing.B, d time.Duration, what string, ok func(int, map[string]string) bool) time.Time {
	deadline := time.After(d)
	for {
		w.mu.Lock()
		count, v, at, ch := w.count, w.versions, w.at, w.changed
		w.mu.Unlock()
		if ok(count, v) {
			return at
		}
		select {
		case <-ch:
		case <-deadline:
			b.Fatalf("MCP: no %s within %s (have %d EnvoyFilters); the client process said: %s", what, d, count, w.stderr.String())
		}
	}
}

// inParallel calls each(i) for i in [0, n) from 16 writers, hands out no
// more work once firstErr holds an error, and fails b with that error.
func inParallel(b *testing.B, n int, firstErr *atomic.Value, each func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				each(i)
			}
		})
	}
	for i := range n {
		if firstErr.Load() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		b.Fatal(err)
	}
}
