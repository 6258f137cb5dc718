package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	mcp "istio.io/api/mcp/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
)

// EnvoyFilterCollection is the MCP type URL istiod reads EnvoyFilters from.
const EnvoyFilterCollection = "networking.istio.io/v1alpha3/EnvoyFilter"

// MCPWatcher subscribes to the EnvoyFilter collection of an MCP server the
// way istiod's MCP client does (state of the world, wildcard, every
// response ACKed) and keeps the latest collection, so tests can compare
// what an aeraki replica serves istiod with what they expect.
type MCPWatcher struct {
	mu        sync.Mutex
	cond      chan struct{} // closed and replaced on every change
	latest    map[string]map[string]any
	responses int
	err       error
}

// WatchMCP connects to addr and subscribes; the stream ends with the test.
func WatchMCP(t testing.TB, addr string) *MCPWatcher {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("testenv: MCP client for %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		conn.Close()
		t.Fatalf("testenv: MCP stream to %s: %v", addr, err)
	}
	w := &MCPWatcher{cond: make(chan struct{})}
	// The node istiod's MCP client (pkg/adsc) sends; see ISTIOD.md.
	meta, _ := structpb.NewStruct(map[string]any{"GENERATOR": "api", "ISTIO_VERSION": "65536.65536.65536"})
	node := &corev3.Node{Id: "sidecar~192.0.2.2~istiod-testenv.istio-system~istio-system.svc.cluster.local", Metadata: meta}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: EnvoyFilterCollection}); err != nil {
		cancel()
		conn.Close()
		t.Fatalf("testenv: MCP subscribe to %s: %v", addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := stream.Recv()
			if err != nil {
				w.set(nil, fmt.Errorf("MCP stream to %s ended: %w", addr, err))
				return
			}
			coll, derr := decodeEnvoyFilters(r)
			w.set(coll, derr)
			ack := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: r.GetTypeUrl(), VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()}
			if err := stream.Send(ack); err != nil {
				w.set(nil, fmt.Errorf("MCP ACK to %s: %w", addr, err))
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	return w
}

func (w *MCPWatcher) set(coll map[string]map[string]any, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.err = err
		}
	} else {
		w.latest = coll
		w.responses++
	}
	close(w.cond)
	w.cond = make(chan struct{})
}

// Responses is how many responses the watcher received.
func (w *MCPWatcher) Responses() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.responses
}

// Err is why the stream ended, or nil while it is up.
func (w *MCPWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Wait returns the latest collection once ok accepts it, failing the test
// when the stream ends or timeout passes first. The collection maps
// "namespace/name" to the EnvoyFilter as a Kubernetes manifest, in the
// form `aeraki render -o json` prints (metadata name, namespace, labels,
// annotations; spec as protojson).
func (w *MCPWatcher) Wait(t testing.TB, what string, timeout time.Duration, ok func(map[string]map[string]any) bool) map[string]map[string]any {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		latest, n, err, changed := w.latest, w.responses, w.err, w.cond
		w.mu.Unlock()
		if n > 0 && ok(latest) {
			return latest
		}
		if err != nil {
			t.Fatalf("testenv: waiting for %s: %v", what, err)
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("testenv: no MCP collection with %s within %v (responses: %d, last: %v)", what, timeout, n, names(latest))
		}
	}
}

// decodeEnvoyFilters turns an MCP response into manifests by name.
func decodeEnvoyFilters(r *discoveryv3.DiscoveryResponse) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, a := range r.GetResources() {
		res := &mcp.Resource{}
		if err := a.UnmarshalTo(res); err != nil {
			return nil, fmt.Errorf("MCP resource is not an istio.mcp.v1alpha1.Resource: %w", err)
		}
		spec := &networking.EnvoyFilter{}
		if err := res.GetBody().UnmarshalTo(spec); err != nil {
			return nil, fmt.Errorf("MCP resource %s: body is not an EnvoyFilter: %w", res.GetMetadata().GetName(), err)
		}
		b, err := protojson.Marshal(spec)
		if err != nil {
			return nil, err
		}
		var specMap map[string]any
		if err := json.Unmarshal(b, &specMap); err != nil {
			return nil, err
		}
		name := res.GetMetadata().GetName()
		ns, n, found := strings.Cut(name, "/")
		if !found {
			return nil, fmt.Errorf("MCP resource name %q is not namespace/name", name)
		}
		meta := map[string]any{"name": n, "namespace": ns}
		if l := res.GetMetadata().GetLabels(); len(l) > 0 {
			meta["labels"] = toAny(l)
		}
		if a := res.GetMetadata().GetAnnotations(); len(a) > 0 {
			meta["annotations"] = toAny(a)
		}
		out[name] = map[string]any{"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter", "metadata": meta, "spec": specMap}
	}
	return out, nil
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func names(coll map[string]map[string]any) []string {
	out := make([]string, 0, len(coll))
	for n := range coll {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
