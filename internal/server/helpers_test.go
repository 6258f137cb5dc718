package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/proxyless"
)

// wait bounds every wait for something the server must do; tests fail
// after it rather than hang. It is a bound, not a performance assertion.
const wait = 20 * time.Second

// testServer is a Server running on loopback, free ports, with a watched
// directory.
type testServer struct {
	*Server
	dir  string
	stop func()
}

// startServer runs a server on dir with the built-in plugins plus extra.
func startServer(t testing.TB, dir string, extra ...plugin.Plugin) *testServer {
	t.Helper()
	return startServerWith(t, dir, nil, extra...)
}

// startServerWith is startServer with a hook to adjust the options.
func startServerWith(t testing.TB, dir string, adjust func(*Options), extra ...plugin.Plugin) *testServer {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(append([]plugin.Plugin{d, proxyless.New()}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	src, err := file.NewWatcher(file.WatcherOptions{Dir: dir, Debounce: 10 * time.Millisecond, Model: reg.Bind(model.Options{}), Log: log.WithName("source")})
	if err != nil {
		t.Fatal(err)
	}
	// The protocol tests speak plaintext, with the flag that serves proxy
	// config there as aeraki did before its TLS address; authorization
	// and the TLS address have their own tests (authz_test.go).
	opts := Options{Registry: reg, Source: src, XDSAddress: "127.0.0.1:0", MonitoringAddress: "127.0.0.1:0",
		DebugAddress: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, Log: log,
		Authorization: Authorization{InsecurePlaintextProxies: true}}
	if adjust != nil {
		adjust(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ts := &testServer{Server: srv, dir: dir}
	var once bool
	ts.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after its context ended")
		}
	}
	t.Cleanup(ts.stop)
	waitUntil(t, "the server is ready", func() bool {
		code, _ := httpGet(t, "http://"+srv.DebugAddr()+"/ready")
		return code == http.StatusOK
	})
	return ts
}

// testLogger logs through t when -v is given, and is quiet otherwise.
func testLogger(t testing.TB) logr.Logger {
	if testing.Verbose() {
		return testr.NewWithInterface(t, testr.Options{Verbosity: 1})
	}
	return logr.Discard()
}

func waitUntil(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t testing.TB, url string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, b := httpGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, b)
	}
}

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write and rename, as editors do, so the watcher never reads half a file.
	tmp := filepath.Join(dir, "."+filepath.Base(name)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// metricValue returns the value of one series on /metrics, or -1.
func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	_, b := httpGet(t, "http://"+addr+"/metrics")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// proxylessNode is a node the proxyless plugin claims.
func proxylessNode(id string) *corev3.Node {
	return &corev3.Node{Id: "proxyless~" + id}
}

// istiodNode is the node istiod's MCP client sends (pkg/adsc).
func istiodNode() *corev3.Node {
	meta, _ := structpb.NewStruct(map[string]any{"GENERATOR": "api", "ISTIO_VERSION": "1.31.0"})
	return &corev3.Node{Id: "sidecar~127.0.0.1~istiod-0.istio-system~istio-system.svc.cluster.local", Metadata: meta}
}

// adsClient is a minimal state-of-the-world ADS client.
type adsClient struct {
	t      *testing.T
	node   *corev3.Node
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	resps  chan *discoveryv3.DiscoveryResponse
	held   []*discoveryv3.DiscoveryResponse // received, of other types than asked for so far
	cancel context.CancelFunc
	err    error // why the stream ended, once resps is closed
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func newADSClient(t *testing.T, addr string, node *corev3.Node) *adsClient {
	t.Helper()
	return newADSClientOn(t, dial(t, addr), node)
}

// newADSClientOn opens a stream on an existing connection (TLS ones).
func newADSClientOn(t *testing.T, conn *grpc.ClientConn, node *corev3.Node) *adsClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &adsClient{t: t, node: node, stream: stream, resps: make(chan *discoveryv3.DiscoveryResponse, 64), cancel: cancel}
	go func() {
		defer close(c.resps)
		for {
			r, err := stream.Recv()
			if err != nil {
				c.err = err
				return
			}
			c.resps <- r
		}
	}()
	t.Cleanup(cancel)
	return c
}

func (c *adsClient) send(typeURL string, names []string, version, nonce string, nack error) {
	c.t.Helper()
	req := &discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names, VersionInfo: version, ResponseNonce: nonce}
	if nack != nil {
		req.ErrorDetail = &statuspb.Status{Code: 3, Message: nack.Error()}
	}
	if err := c.stream.Send(req); err != nil {
		c.t.Fatalf("send %s request: %v", typeURL, err)
	}
}

// recv returns the next response of typeURL, failing after the bound.
func (c *adsClient) recv(typeURL string) *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	r := c.recvWithin(typeURL, wait)
	if r == nil {
		c.t.Fatalf("no %s response within %v", typeURL, wait)
	}
	return r
}

// recvWithin returns the next response of typeURL, or nil when none came
// within d.
func (c *adsClient) recvWithin(typeURL string, d time.Duration) *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	for i, r := range c.held {
		if r.GetTypeUrl() == typeURL {
			c.held = append(c.held[:i], c.held[i+1:]...)
			return r
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r, ok := <-c.resps:
			if !ok {
				c.t.Fatalf("stream closed while waiting for %s", typeURL)
			}
			if r.GetTypeUrl() == typeURL {
				return r
			}
			c.held = append(c.held, r)
		case <-timer.C:
			return nil
		}
	}
}

// recvErr waits for the stream to end and returns why.
func (c *adsClient) recvErr() error {
	c.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-c.resps:
			if !ok {
				return c.err
			}
		case <-timer.C:
			c.t.Fatalf("the stream did not end within %v", wait)
			return nil
		}
	}
}

// ack acknowledges a response.
func (c *adsClient) ack(r *discoveryv3.DiscoveryResponse, names ...string) {
	c.t.Helper()
	c.send(r.GetTypeUrl(), names, r.GetVersionInfo(), r.GetNonce(), nil)
}
