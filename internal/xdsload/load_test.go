package xdsload_test

import (
	"bytes"
	"context"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/xdsload"
	"github.com/aeraki-ng/aeraki/pkg/aeraki"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

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

// TestLoadClientAgainstServe runs the load client against a real `aeraki
// serve` (in this process, on a generated mesh) with a few streams of
// every kind and protocol: every stream gets its config, then the change,
// delta streams only what changed, and the heap is read. It measures
// nothing against a bound: the figures come from cmd/xdsload runs.
func TestLoadClientAgainstServe(t *testing.T) {
	dir := t.TempDir()
	if err := xdsload.Generate(dir, xdsload.MeshOptions{Services: 30, Nodes: 4}); err != nil {
		t.Fatal(err)
	}
	xds, debug := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- aeraki.Run(ctx, []string{"serve", "--config-dir", dir, "--plaintext-address", xds, "--tls-address", "off",
			"--insecure-plaintext-proxies", "--pprof", "--debug-address", debug, "--monitoring-address", freeAddr(t)}, &stderr, &stderr, builtin.Plugins()...)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + debug + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", stderr.String())
		}
	}
	r, err := xdsload.Run(ctx, xdsload.Options{Address: xds, DebugAddress: debug, Dir: dir, Services: 30, Nodes: 4, Streams: 12, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if r.Unchanged != 0 {
		t.Fatalf("%d streams got no change: %v\n%s", r.Unchanged, r.Missing, stderr.String())
	}
	for _, k := range []string{"ztunnel/sotw", "ztunnel/delta", "waypoint/sotw", "waypoint/delta", "proxyless/sotw", "proxyless/delta"} {
		if _, ok := r.ByKind[k]; !ok {
			t.Errorf("no %s stream measured: %v", k, r.ByKind)
		}
	}
	if r.DeltaStreams == 0 || r.DeltaResources == 0 {
		t.Errorf("delta streams %d got %d resources with the change", r.DeltaStreams, r.DeltaResources)
	}
	if r.HeapBefore == 0 || r.HeapAfter == 0 {
		t.Errorf("heap not read: before %d, after %d", r.HeapBefore, r.HeapAfter)
	}
	t.Logf("12 streams: first response p50 %s, max %s; %.0f B per stream", xdsload.Quantile(r.Received, 0.5), xdsload.Quantile(r.Received, 1), r.PerStream())
}
