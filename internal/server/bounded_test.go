package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// randomNode is a node id a hostile or broken client might send: a
// ztunnel id for a node that does not exist (the HBONE plugin claims
// every ztunnel/<x>), a proxyless id, or anything at all, with metadata.
func randomNode(r *rand.Rand, i int) *corev3.Node {
	tok := fmt.Sprintf("%x-%d", r.Uint64(), i)
	switch i % 4 {
	case 0:
		return &corev3.Node{Id: "ztunnel/" + tok}
	case 1:
		return &corev3.Node{Id: "waypoint/ns-" + tok + "/gw"}
	case 2:
		meta, _ := structpb.NewStruct(map[string]any{"junk": strings.Repeat(tok, 8), "AERAKI_PROXY": "ztunnel", "NODE_NAME": tok})
		return &corev3.Node{Id: tok, Metadata: meta}
	default:
		meta, _ := structpb.NewStruct(map[string]any{"junk": strings.Repeat(tok, 8)})
		return &corev3.Node{Id: "sidecar~" + tok, Metadata: meta}
	}
}

// churn opens n streams with random node ids, at most par at a time over
// the given connections; each asks for listeners, waits for the answer or
// the refusal, and closes.
func churn(tb testing.TB, conns []*grpc.ClientConn, n, par int, seed uint64) (answered, refused int) {
	tb.Helper()
	var mu sync.Mutex
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conns[i%len(conns)]).StreamAggregatedResources(ctx)
			if err != nil {
				tb.Errorf("stream %d: %v", i, err)
				return
			}
			if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: randomNode(r, i), TypeUrl: resourcev3.ListenerType}); err != nil {
				tb.Errorf("stream %d: send: %v", i, err)
				return
			}
			_, err = stream.Recv()
			mu.Lock()
			defer mu.Unlock()
			switch code := status.Code(err); code {
			case codes.OK:
				answered++
			case codes.NotFound, codes.PermissionDenied:
				refused++
			default:
				tb.Errorf("stream %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	return answered, refused
}

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestRandomNodeIDsLeaveNothingBehind opens 10,000 streams with distinct
// random node ids on the plaintext address with proxy config allowed (the
// most a client can make aeraki keep: every ztunnel/<x> id is claimed by
// the HBONE plugin and served an empty config) and closes them. Once the
// grace period passes, the caches, the streams, the goroutines and the
// live heap are back where they were.
func TestRandomNodeIDsLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 streams")
	}
	dir := t.TempDir()
	copyExample(t, "ambient-dubbo", dir)
	srv := startServerWith(t, dir, func(o *Options) {
		o.Limits = Limits{MaxStreams: -1, MaxStreamsPerClient: -1, IdleGrace: 50 * time.Millisecond}
	}, hbone.New())
	conns := []*grpc.ClientConn{dial(t, srv.XDSAddr()), dial(t, srv.XDSAddr()), dial(t, srv.XDSAddr()), dial(t, srv.XDSAddr())}

	settled := func(what string) {
		t.Helper()
		waitUntil(t, what, func() bool {
			keys, refs, timers, _ := srv.pub.entries()
			srv.tracker.mu.Lock()
			streams, peers := len(srv.tracker.streams), len(srv.tracker.perPeer)
			srv.tracker.mu.Unlock()
			return keys == 0 && refs == 0 && timers == 0 && streams == 0 && peers == 0
		})
	}
	// Warm up: connections, gRPC's pools, the caches' maps at their size.
	churn(t, conns, 600, 100, 1)
	settled("the warm-up streams are forgotten")
	baseHeap, baseG := heapAfterGC(), runtime.NumGoroutine()
	_, _, _, baseProxies := srv.pub.entries()

	const n = 10000
	answered, refused := churn(t, conns, n, 200, 2)
	t.Logf("%d streams: %d answered (an empty config), %d refused (no plugin claims the node)", n, answered, refused)
	if answered != 3*n/4 || refused != n/4 {
		t.Errorf("want both kinds of outcome; answered %d refused %d", answered, refused)
	}
	settled("every random node's state is dropped")
	if _, _, _, proxies := srv.pub.entries(); proxies != baseProxies {
		t.Errorf("built proxies %d, want %d as before", proxies, baseProxies)
	}
	waitUntil(t, "the stream goroutines ended", func() bool { return runtime.NumGoroutine() <= baseG+5 })
	heap := heapAfterGC()
	t.Logf("live heap: %d KiB before, %d KiB after %d streams", baseHeap>>10, heap>>10, n)
	// A bound, not a target: 10,000 retained node ids with metadata would
	// be several MiB; gRPC and the runtime keep some slack (measured:
	// about 550 KiB, the same after 10,000 and after 40,000 streams).
	if heap > baseHeap+2<<20 {
		t.Errorf("live heap grew by %d KiB after the streams closed", (heap-baseHeap)>>10)
	}
	for _, series := range []string{`aeraki_xds_streams{listener="plaintext"}`, `aeraki_xds_connected_proxies{kind="ztunnel"}`} {
		if v := metricValue(t, srv.MonitoringAddr(), series); v != 0 && v != -1 {
			t.Errorf("%s = %v after every stream closed", series, v)
		}
	}
}

// TestStreamLimits: a client over its stream limit, and streams over the
// total, are refused with ResourceExhausted and counted; closing a stream
// makes room again.
func TestStreamLimits(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000))
	srv := startServerWith(t, dir, func(o *Options) { o.Limits = Limits{MaxStreams: 3, MaxStreamsPerClient: 2} })
	a := newADSClient(t, srv.XDSAddr(), proxylessNode("a"))
	b := newADSClient(t, srv.XDSAddr(), proxylessNode("b"))
	for _, c := range []*adsClient{a, b} {
		c.send(resourcev3.ListenerType, nil, "", "", nil)
		c.recv(resourcev3.ListenerType)
	}
	third := newADSClient(t, srv.XDSAddr(), proxylessNode("c"))
	err := third.recvErr()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-streams-per-client") {
		t.Fatalf("err = %v, want ResourceExhausted naming the per-client flag", err)
	}
	if v := metricValue(t, srv.MonitoringAddr(), `aeraki_xds_refused_total{listener="plaintext",reason="limit-client"}`); v != 1 {
		t.Errorf("limit-client refusals: %v, want 1", v)
	}
	a.cancel()
	waitUntil(t, "the closed stream is forgotten", func() bool {
		return metricValue(t, srv.MonitoringAddr(), `aeraki_xds_streams{listener="plaintext"}`) == 1
	})
	again := newADSClient(t, srv.XDSAddr(), proxylessNode("d"))
	again.send(resourcev3.ListenerType, nil, "", "", nil)
	again.recv(resourcev3.ListenerType)
}

// TestReconnectWithinGraceKeepsTheEntry: a proxy that reconnects before
// the grace period ends finds its cache entry; after it, the entry is
// gone, and a new stream gets the config again.
func TestReconnectWithinGraceKeepsTheEntry(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000))
	var fire []func()
	var mu sync.Mutex
	srv := startServerWith(t, dir, func(o *Options) { o.Limits.IdleGrace = time.Hour })
	srv.pub.mu.Lock()
	srv.pub.after = func(_ time.Duration, f func()) *time.Timer {
		mu.Lock()
		fire = append(fire, f)
		mu.Unlock()
		return time.NewTimer(time.Hour)
	}
	srv.pub.mu.Unlock()
	open := func() *adsClient {
		c := newADSClient(t, srv.XDSAddr(), proxylessNode("x"))
		c.send(resourcev3.ListenerType, nil, "", "", nil)
		if r := c.recv(resourcev3.ListenerType); len(r.GetResources()) == 0 {
			t.Fatal("no listeners")
		}
		return c
	}
	first := open()
	first.cancel()
	waitUntil(t, "the release is scheduled", func() bool { mu.Lock(); defer mu.Unlock(); return len(fire) == 1 })
	keys, _, timers, _ := srv.pub.entries()
	if keys != 1 || timers != 1 {
		t.Fatalf("within the grace period: %d cache keys, %d timers; want the entry kept", keys, timers)
	}
	second := open() // within the grace period
	mu.Lock()
	fire[0]() // the old timer fires late: the key is in use again
	mu.Unlock()
	if keys, _, _, _ := srv.pub.entries(); keys != 1 {
		t.Fatalf("a late timer dropped an entry in use")
	}
	second.cancel()
	waitUntil(t, "the second release is scheduled", func() bool { mu.Lock(); defer mu.Unlock(); return len(fire) == 2 })
	mu.Lock()
	fire[1]()
	mu.Unlock()
	if keys, refs, timers, _ := srv.pub.entries(); keys != 0 || refs != 0 || timers != 0 {
		t.Fatalf("after the grace period: %d keys, %d refs, %d timers; want none", keys, refs, timers)
	}
	open()
}

// BenchmarkStreamChurn: one op is a client opening an ADS stream with a
// new random node id, asking for listeners, getting its answer (an empty
// config, or NotFound for a node no plugin claims) and closing, 64
// clients at a time over 4 connections, on the plaintext address with
// proxy config allowed. Reported besides time: the live heap left per
// stream once the grace period passed (0 when nothing leaks).
//
//	go test ./internal/server -run '^$' -bench StreamChurn -benchtime 20000x
func BenchmarkStreamChurn(b *testing.B) {
	dir := b.TempDir()
	copyExample(b, "ambient-dubbo", dir)
	srv := startServerWith(b, dir, func(o *Options) {
		o.Limits = Limits{MaxStreams: -1, MaxStreamsPerClient: -1, IdleGrace: 10 * time.Millisecond}
		o.Log = logr.Discard()
	}, hbone.New())
	conns := []*grpc.ClientConn{dial(b, srv.XDSAddr()), dial(b, srv.XDSAddr()), dial(b, srv.XDSAddr()), dial(b, srv.XDSAddr())}
	churn(b, conns, 500, 64, 1)
	settle := func() {
		deadline := time.Now().Add(wait)
		for {
			keys, refs, timers, _ := srv.pub.entries()
			if keys == 0 && refs == 0 && timers == 0 {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("state left: %d keys %d refs %d timers", keys, refs, timers)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	settle()
	before := heapAfterGC()
	b.ReportAllocs()
	b.ResetTimer()
	churn(b, conns, b.N, 64, 2)
	b.StopTimer()
	settle()
	after := heapAfterGC()
	retained := float64(0)
	if after > before {
		retained = float64(after-before) / float64(b.N)
	}
	b.ReportMetric(retained, "retained-B/stream")
}
