package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	mcp "istio.io/api/mcp/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	listenerTypeURL    = "type.googleapis.com/envoy.config.listener.v3.Listener"
	envoyFilterTypeURL = "networking.istio.io/v1alpha3/EnvoyFilter"
	replacedStatPrefix = "aeraki_testenv_replaced"
)

// TestIstiodWithMCPSource starts kube + a real istiod whose configSources are
// a tiny MCP server (below) and k8s://, then connects to istiod as a sidecar
// and checks the LDS answer: the outbound listener of a Kubernetes Service is
// named <clusterIP>_<port>, and an EnvoyFilter served over MCP replaced its
// tcp_proxy network filter.
func TestIstiodWithMCPSource(t *testing.T) {
	RequireIstiod(t)
	start := time.Now()
	cfg, kubeconfig := StartKube(t, IstioCRDDir())
	t.Logf("kube-apiserver ready in %v", time.Since(start).Round(time.Millisecond))

	if kubectl, ok := binPath("kubectl"); ok {
		out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "crd", "envoyfilters.networking.istio.io", "-o", "name").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "envoyfilters.networking.istio.io") {
			t.Fatalf("kubectl get crd: %v\n%s", err, out)
		}
	}

	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "echo"},
			Ports:    []corev1.ServicePort{{Name: "tcp-echo", Port: 9000, Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service: %v", err)
	}
	outboundListener := fmt.Sprintf("%s_%d", svc.Spec.ClusterIP, 9000)

	src := startMCPServer(t, map[string][]*anypb.Any{
		envoyFilterTypeURL: {mcpResource(t, IstiodNamespace, "replace-tcp-proxy", replaceTCPProxy(t, outboundListener))},
	})

	start = time.Now()
	ist := StartIstiod(t, IstiodOptions{Kubeconfig: kubeconfig, MCPAddress: src.addr})
	t.Logf("istiod ready in %v (xds %s, http %s)", time.Since(start).Round(time.Millisecond), ist.XDSAddr, ist.HTTPAddr)

	types, nodeID := src.subscriptions()
	t.Logf("istiod MCP client node id %q subscribed to %d type URLs: %s", nodeID, len(types), strings.Join(types, " "))
	if !contains(types, envoyFilterTypeURL) {
		t.Errorf("istiod did not subscribe to %s over MCP", envoyFilterTypeURL)
	}

	sidecar := Sidecar{IP: "10.1.0.5", Pod: "client-0", Namespace: "default", Labels: map[string]string{"app": "client"}}
	listeners := fetchListeners(ctx, t, ist.XDSAddr, sidecar, func(ls map[string]*listenerv3.Listener) bool {
		l := ls[outboundListener]
		return l != nil && tcpProxyStatPrefix(t, l) == replacedStatPrefix
	})
	names := make([]string, 0, len(listeners))
	for n := range listeners {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("LDS for %s: %s", sidecar.ID(), strings.Join(names, " "))
	for _, want := range []string{"virtualOutbound", "virtualInbound", outboundListener} {
		if listeners[want] == nil {
			t.Errorf("LDS has no listener %q", want)
		}
	}
	if l := listeners[outboundListener]; l != nil {
		if got := tcpProxyStatPrefix(t, l); got != replacedStatPrefix {
			t.Errorf("listener %s tcp_proxy stat_prefix = %q, want %q (EnvoyFilter REPLACE from MCP not applied)", outboundListener, got, replacedStatPrefix)
		}
	}
}

// fetchListeners opens an ADS stream to istiod as the given sidecar, requests
// LDS and returns the listeners of the first response satisfying done (or of
// the last response when ctx expires, failing the test).
func fetchListeners(ctx context.Context, t *testing.T, addr string, sc Sidecar, done func(map[string]*listenerv3.Listener) bool) map[string]*listenerv3.Listener {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial istiod: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatalf("ADS stream: %v", err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: sc.Node(), TypeUrl: listenerTypeURL}); err != nil {
		t.Fatalf("send LDS request: %v", err)
	}
	var last map[string]*listenerv3.Listener
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for a matching LDS response: %v (last listeners: %v)", err, keys(last))
		}
		if resp.GetTypeUrl() != listenerTypeURL {
			continue
		}
		last = map[string]*listenerv3.Listener{}
		for _, r := range resp.GetResources() {
			l := &listenerv3.Listener{}
			if err := r.UnmarshalTo(l); err != nil {
				t.Fatalf("unmarshal listener: %v", err)
			}
			last[l.GetName()] = l
		}
		_ = stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: listenerTypeURL, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
		if done(last) {
			return last
		}
	}
}

func tcpProxyStatPrefix(t *testing.T, l *listenerv3.Listener) string {
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			if f.GetName() != "envoy.filters.network.tcp_proxy" {
				continue
			}
			tp := &tcpproxyv3.TcpProxy{}
			if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
				t.Fatalf("tcp_proxy config: %v", err)
			}
			return tp.GetStatPrefix()
		}
	}
	return ""
}

// replaceTCPProxy is an EnvoyFilter replacing the tcp_proxy of the given
// outbound listener with one whose stat_prefix is replacedStatPrefix.
func replaceTCPProxy(t *testing.T, listenerName string) *networking.EnvoyFilter {
	value, err := structpb.NewStruct(map[string]any{
		"name": "envoy.filters.network.tcp_proxy",
		"typed_config": map[string]any{
			"@type":       "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
			"stat_prefix": replacedStatPrefix,
			"cluster":     "outbound|9000||echo.default.svc.cluster.local",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &networking.EnvoyFilter{
		ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{{
			ApplyTo: networking.EnvoyFilter_NETWORK_FILTER,
			Match: &networking.EnvoyFilter_EnvoyConfigObjectMatch{
				Context: networking.EnvoyFilter_SIDECAR_OUTBOUND,
				ObjectTypes: &networking.EnvoyFilter_EnvoyConfigObjectMatch_Listener{Listener: &networking.EnvoyFilter_ListenerMatch{
					Name: listenerName,
					FilterChain: &networking.EnvoyFilter_ListenerMatch_FilterChainMatch{
						Filter: &networking.EnvoyFilter_ListenerMatch_FilterMatch{Name: "envoy.filters.network.tcp_proxy"},
					},
				}},
			},
			Patch: &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_REPLACE, Value: value},
		}},
	}
}

// mcpResource wraps an Istio config spec the way istiod's MCP client
// (istio.io/istio/pkg/adsc) expects: Any(istio.mcp.v1alpha1.Resource) with
// metadata.name "namespace/name" and body Any(spec).
func mcpResource(t *testing.T, ns, name string, spec *networking.EnvoyFilter) *anypb.Any {
	body, err := anypb.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := anypb.New(&mcp.Resource{
		Metadata: &mcp.Metadata{Name: ns + "/" + name, Version: "1", CreateTime: timestamppb.Now()},
		Body:     body,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// mcpServer is a tiny SotW ADS server standing in for Aeraki's MCP server: it
// answers every subscribed type URL once with the configured resources
// (usually none), which is what istiod needs to consider its MCP source synced.
type mcpServer struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	addr      string
	resources map[string][]*anypb.Any

	mu     sync.Mutex
	types  map[string]bool
	nodeID string
	t      *testing.T
}

func startMCPServer(t *testing.T, resources map[string][]*anypb.Any) *mcpServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mcpServer{addr: lis.Addr().String(), resources: resources, types: map[string]bool{}, t: t}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, s)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return s
}

func (s *mcpServer) StreamAggregatedResources(stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	nonce := 0
	sent := map[string]string{} // type URL -> nonce of the last response
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		s.mu.Lock()
		if req.GetNode().GetId() != "" {
			s.nodeID = req.GetNode().GetId()
		}
		s.types[req.GetTypeUrl()] = true
		s.mu.Unlock()
		if req.GetErrorDetail() != nil {
			s.t.Logf("MCP NACK for %s: %v", req.GetTypeUrl(), req.GetErrorDetail().GetMessage())
		}
		// istiod's MCP client (pkg/adsc ADSC.Send) puts a timestamp in
		// ResponseNonce even on its initial requests, so "non-empty nonce"
		// does not mean ACK: only the nonce of our last response does.
		if last, ok := sent[req.GetTypeUrl()]; ok && req.GetResponseNonce() == last {
			continue // ACK or NACK of our last response
		}
		nonce++
		sent[req.GetTypeUrl()] = fmt.Sprint(nonce)
		if err := stream.Send(&discoveryv3.DiscoveryResponse{
			TypeUrl:     req.GetTypeUrl(),
			VersionInfo: "1",
			Nonce:       sent[req.GetTypeUrl()],
			Resources:   s.resources[req.GetTypeUrl()],
		}); err != nil {
			return err
		}
	}
}

func (s *mcpServer) subscriptions() ([]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.types))
	for k := range s.types {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, s.nodeID
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
