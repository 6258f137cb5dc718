package aeraki

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestIstiodWithKubernetesMode is the server's istiod test
// (internal/server TestIstiodMergesOurEnvoyFilters, file mode) in Kubernetes
// mode: istiod and `aeraki serve --kubeconfig` share one API server, istiod
// reads Services and DestinationRules from it (k8s://) and aeraki's
// EnvoyFilters over MCP; a sidecar asking istiod for its listeners gets
// the Dubbo service's listener with aeraki's dubbo_proxy routes (sidecars run
// istio-proxy, which has no generic_proxy), and a
// `kubectl patch` of the MetaRouter reaches the sidecar through both.
func TestIstiodWithKubernetesMode(t *testing.T) {
	testenv.RequireIstiod(t)
	k, saKubeconfig, kubeconfig, _ := operatorClusterAdmin(t)
	s := serve(t, "--kubeconfig", saKubeconfig, "--debounce", "100ms")
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, MCPAddress: s.xds})
	t.Logf("istiod ready (xds %s), reading config from aeraki at %s and from the API server", ist.XDSAddr, s.xds)

	clusterIP := strings.TrimSpace(k.Must(t, "get", "-n", "dubbo-demo", "service/dubbo-provider", "-o", "jsonpath={.spec.clusterIP}"))
	listener := clusterIP + "_20880"
	sidecar := testenv.Sidecar{IP: "10.1.0.5", Pod: "client-0", Namespace: "dubbo-demo", Labels: map[string]string{"app": "client"}}
	lds := newLDSWatch(t, ist.XDSAddr, sidecar)

	lds.wait(t, listener, "examples/dubbo's sayHello route to v2", func(rc string) bool {
		return strings.Contains(rc, "sayHello") && strings.Contains(rc, "outbound|20880|v2|dubbo-provider.dubbo-demo.svc.cluster.local")
	})
	start := time.Now()
	k.Must(t, "patch", "metarouter", "-n", "dubbo-demo", "dubbo-provider", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/routes/0/match/attributes/method/exact","value":"sayGoodbye"}]`)
	lds.wait(t, listener, "the patched route for sayGoodbye", func(rc string) bool {
		return strings.Contains(rc, "sayGoodbye") && !strings.Contains(rc, "sayHello")
	})
	t.Logf("kubectl patch reached the sidecar through aeraki and istiod in %v", time.Since(start).Round(time.Millisecond))
}

// ldsWatch is a sidecar's LDS subscription to istiod.
type ldsWatch struct {
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

func newLDSWatch(t *testing.T, addr string, sc testenv.Sidecar) *ldsWatch {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: sc.Node(), TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	return &ldsWatch{stream: stream}
}

// wait reads LDS responses (ACKing each) until the dubbo_proxy route
// table on listener, as JSON, satisfies ok; it fails after a minute.
func (w *ldsWatch) wait(t *testing.T, listener, what string, ok func(string) bool) {
	t.Helper()
	type result struct {
		rc  string
		err error
	}
	deadline := time.After(time.Minute)
	var last string
	for {
		got := make(chan result, 1)
		go func() {
			r, err := w.stream.Recv()
			if err != nil {
				got <- result{err: err}
				return
			}
			_ = w.stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.GetTypeUrl(), VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
			rc, err := dubboProxyRoutes(r, listener)
			got <- result{rc: rc, err: err}
		}()
		select {
		case r := <-got:
			if r.err != nil {
				t.Fatalf("LDS from istiod: %v", r.err)
			}
			if last = r.rc; ok(last) {
				return
			}
		case <-deadline:
			t.Fatalf("istiod did not send %s within a minute; last dubbo_proxy routes on %s: %q", what, listener, last)
		}
	}
}

// dubboProxyRoutes returns the dubbo_proxy route tables on a listener of
// an LDS response, as JSON ("" when there is none); generic_proxy there is
// an error, since istio-proxy sidecars would reject it.
func dubboProxyRoutes(r *discoveryv3.DiscoveryResponse, listener string) (string, error) {
	for _, a := range r.GetResources() {
		l := &listenerv3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			return "", err
		}
		if l.GetName() != listener {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.GetName() == "envoy.filters.network.generic_proxy" {
					return "", fmt.Errorf("listener %s carries generic_proxy, which istio-proxy sidecars do not have", listener)
				}
				if f.GetName() != "envoy.filters.network.dubbo_proxy" {
					continue
				}
				dp := &dubbov3.DubboProxy{}
				if err := f.GetTypedConfig().UnmarshalTo(dp); err != nil {
					return "", err
				}
				b, err := protojson.Marshal(dp.GetMultipleRouteConfig())
				return string(b), err
			}
		}
	}
	return "", nil
}
