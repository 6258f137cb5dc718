package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
	"github.com/aeraki-ng/aeraki/plugins/proxyless"
	"github.com/aeraki-ng/aeraki/plugins/redis"
)

// The xDS request path under hostile input: what a client controls is its
// node (id and metadata), the type URLs, resource names, versions, nonces
// and error details of its requests, and, on the TLS address, the
// identities of a certificate the mesh CA signed. The targets run that
// through MatchNode, authorization and go-control-plane's real stream
// handlers (no network: in-memory streams), and check what must hold for
// every input: nothing panics or hangs, a client that proved nothing gets
// no proxy config, and a closed stream leaves no state behind.
//
// The seeds in testdata/fuzz run with every `go test`; run a target with
//
//	go test ./internal/server -run '^$' -fuzz FuzzStreamRequests -fuzztime 5m

// The mesh the targets serve: examples/ambient-dubbo (a waypoint, ztunnels
// for three nodes) with Istio's ztunnel on node-b at 127.0.0.1, and a
// Redis service whose config holds a password.
var (
	fuzzOnce sync.Once
	fuzzSrv  *Server
	fuzzErr  error
)

// fuzzServer is a server as `aeraki serve` builds it with both addresses,
// not listening, with one generation published; the grace period is
// zero so closed streams' state goes at once.
func fuzzServer(tb testing.TB) *Server {
	fuzzOnce.Do(func() { fuzzSrv, fuzzErr = newFuzzServer() })
	if fuzzErr != nil {
		tb.Fatal(fuzzErr)
	}
	return fuzzSrv
}

func newFuzzServer() (*Server, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		return nil, err
	}
	reg, err := plugin.NewRegistry(d, proxyless.New(), hbone.New(), redis.New())
	if err != nil {
		return nil, err
	}
	s, err := New(Options{Registry: reg, Source: nopSource{}, XDSAddress: "127.0.0.1:0", SecureXDSAddress: "127.0.0.1:0",
		TLS: &tls.Config{}, Limits: Limits{IdleGrace: time.Nanosecond}, Log: logr.Discard()})
	if err != nil {
		return nil, err
	}
	b := model.NewBuilder(reg.Bind(model.Options{}))
	dir := filepath.Join(root, "examples", "ambient-dubbo")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".yaml" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		file.LoadBytes(e.Name(), data, b, file.Options{})
	}
	file.LoadBytes("ztunnel.yaml", []byte(ztunnelPod), b, file.Options{})
	file.LoadBytes("redis.yaml", []byte(redisWithAuth), b, file.Options{})
	s.generate(b.Build())
	s.xdsCtx, s.xdsCancel = context.WithCancel(context.Background())
	return s, nil
}

// fuzzNode builds the node a client sends: metadata is JSON when it
// parses as an object, else one string field.
func fuzzNode(id string, meta []byte) *corev3.Node {
	n := &corev3.Node{Id: id}
	var m map[string]any
	if json.Unmarshal(meta, &m) == nil && m != nil {
		n.Metadata, _ = structpb.NewStruct(m)
	} else if len(meta) > 0 {
		n.Metadata = &structpb.Struct{Fields: map[string]*structpb.Value{"AERAKI_PROXY": structpb.NewStringValue(string(meta))}}
	}
	return n
}

// fuzzTypes are the type URLs a client is likely to send; a fuzzed type
// URL of one character picks one of them.
var fuzzTypes = []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.RouteType, resourcev3.EndpointType,
	resourcev3.SecretType, EnvoyFilterType, serviceEntryType, "networking.istio.io/v1alpha3/Nope", "type.googleapis.com/nope"}

func fuzzType(s string) string {
	if len(s) == 1 {
		return fuzzTypes[int(s[0])%len(fuzzTypes)]
	}
	return s
}

// FuzzMatchNode: any node id and metadata through every ProxyBuilder's
// MatchNode, and the proxy it names through the builder's authorization
// with any identity and address. MatchNode is deterministic; a refusal is
// an error, never a panic; and authorization grants a waypoint only to its
// ServiceAccount, a ztunnel only to Istio's ztunnel on that node, and
// proxyless config only to the mesh's trust domain.
func FuzzMatchNode(f *testing.F) {
	f.Add("waypoint/dubbo-ambient/waypoint", []byte(nil), waypointID, "127.0.0.1")
	f.Add("ztunnel/node-b", []byte(nil), ztunnelID, "127.0.0.1")
	f.Add("ztunnel/node-a", []byte(nil), ztunnelID, "127.0.0.1")
	f.Add("router~10.0.0.1~wp.ns~ns.svc.cluster.local", []byte(`{"AERAKI_PROXY":"waypoint","NAMESPACE":"dubbo-ambient","LABELS":{"gateway.networking.k8s.io/gateway-name":"waypoint"}}`), waypointID, "10.0.0.1")
	f.Add("x", []byte(`{"AERAKI_PROXY":"ztunnel","NODE_NAME":"node-b"}`), ztunnelID, "127.0.0.1")
	f.Add("proxyless~a", []byte(`{"PROXYLESS":true}`), "spiffe://cluster.local/ns/a/sa/b", "::1")
	f.Add("waypoint//", []byte("waypoint"), "", "")
	s := fuzzServer(f)
	view := s.pub.current().View()
	f.Fuzz(func(t *testing.T, id string, meta []byte, identity, addr string) {
		node := fuzzNode(id, meta)
		m := s.nodes.match(node)
		if again := s.nodes.match(fuzzNode(id, meta)); again != m {
			t.Fatalf("MatchNode is not deterministic: %+v then %+v", m, again)
		}
		if m.plugin == "" {
			if m.key != unmatchedKey {
				t.Fatalf("an unmatched node got key %q", m.key)
			}
			return
		}
		if m.key != proxyKey(m.plugin, m.proxyID) {
			t.Fatalf("key %q is not the proxy key of %s/%s", m.key, m.plugin, m.proxyID)
		}
		pa, ok := s.nodes.builder(m.plugin).(plugin.ProxyAuthorizer)
		if !ok {
			return
		}
		err := safeAuthorize(pa, view, m.proxyID, plugin.Peer{Identities: []string{identity}, Address: addr})
		if err == nil && !allowed(m.proxyID, identity, addr) {
			t.Fatalf("proxy %s was granted to %q at %q", m.proxyID, identity, addr)
		}
		if err != nil && strings.Contains(err.Error(), "panicked") {
			t.Fatalf("the plugin panicked: %v", err)
		}
	})
}

// allowed is the rule authorization must follow for the fuzz mesh.
func allowed(proxyID, identity, addr string) bool {
	switch {
	case proxyID == waypointNodeID:
		return identity == waypointID
	case strings.HasPrefix(proxyID, "ztunnel/"):
		return proxyID == "ztunnel/node-b" && identity == ztunnelID && addr == "127.0.0.1"
	case proxyID == proxyless.ProxyID:
		return strings.HasPrefix(identity, "spiffe://cluster.local/")
	}
	return false
}

// memStream is an in-memory ADS stream (state of the world or delta): it
// hands the server the requests in order, then io.EOF, and records what
// the server sends.
type memStream[Req, Resp any] struct {
	grpc.ServerStream
	ctx  context.Context
	reqs []*Req
	mu   sync.Mutex
	sent []*Resp
}

func (m *memStream[Req, Resp]) Context() context.Context { return m.ctx }
func (m *memStream[Req, Resp]) Recv() (*Req, error) {
	if len(m.reqs) == 0 {
		// Let the server answer before the stream ends, as a client
		// waits for an answer; a refused stream never answers.
		for i := 0; i < 20; i++ {
			m.mu.Lock()
			n := len(m.sent)
			m.mu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(500 * time.Microsecond)
		}
		return nil, io.EOF
	}
	r := m.reqs[0]
	m.reqs = m.reqs[1:]
	return r, nil
}
func (m *memStream[Req, Resp]) Send(r *Resp) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, r)
	return nil
}
func (m *memStream[Req, Resp]) SetHeader(metadata.MD) error  { return nil }
func (m *memStream[Req, Resp]) SendHeader(metadata.MD) error { return nil }
func (m *memStream[Req, Resp]) SetTrailer(metadata.MD)       {}

// fuzzPeer is the connection's peer: plaintext, or TLS with a verified
// certificate naming identity (not "" ) when tlsPeer is set.
func fuzzPeer(ctx context.Context, tlsPeer bool, identity, addr string) context.Context {
	ip := net.ParseIP(addr)
	if ip == nil {
		ip = net.IPv4(127, 0, 0, 1)
	}
	p := &peer.Peer{Addr: &net.TCPAddr{IP: ip, Port: 40000}}
	if tlsPeer {
		state := tls.ConnectionState{}
		if identity != "" {
			leaf := &x509.Certificate{}
			if u, err := url.Parse(identity); err == nil {
				leaf.URIs = []*url.URL{u}
			}
			state.VerifiedChains = [][]*x509.Certificate{{leaf}}
		}
		p.AuthInfo = credentials.TLSInfo{State: state}
	}
	return peer.NewContext(ctx, p)
}

// FuzzStreamRequests: two requests on one stream, state of the world or
// delta, on the plaintext or the TLS address, with any node (and a second
// node, to try to switch), type URLs, resource names, version, nonce and
// error detail, through go-control-plane's stream handlers and aeraki's
// callbacks and caches. Nothing panics or hangs; a plaintext client, and
// a TLS client without a certificate, never get proxy config; a refused
// stream gets no resources; once the stream is closed nothing of it is
// left: no stream, no per-client count, no cache entry.
func FuzzStreamRequests(f *testing.F) {
	f.Add("waypoint/dubbo-ambient/waypoint", []byte(nil), "\x00", "", "", "", waypointID, "127.0.0.1", uint8(0b0010))
	f.Add("ztunnel/node-b", []byte(nil), "\x01", "", "", "ztunnel/node-a", ztunnelID, "127.0.0.1", uint8(0b1010))
	f.Add("ztunnel/random", []byte(nil), "\x00", "a,b", "1", "", "", "10.0.0.1", uint8(0b0000))
	f.Add("sidecar~1.2.3.4~x.y~y.svc.cluster.local", []byte(`{"GENERATOR":"api"}`), "\x05", "", "", "", "", "", uint8(0b0000))
	f.Add("proxyless~x", []byte(`{"PROXYLESS":"true"}`), "\x00", "greeter.example.com:50051", "", "proxyless~y", "spiffe://cluster.local/ns/a/sa/b", "10.1.2.3", uint8(0b1011))
	f.Add("", []byte("ztunnel"), "type.googleapis.com/envoy.config.listener.v3.Listener", "", "v1", "", "spiffe://", "", uint8(0b0110))
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, id string, meta []byte, typeURL, names, nonce, id2, identity, addr string, flags uint8) {
		delta, tlsPeer, second, nack := flags&1 != 0, flags&2 != 0, flags&8 != 0, flags&16 != 0
		l := s.plaintext
		if tlsPeer {
			l = s.secure
		}
		node := fuzzNode(id, meta)
		typ := fuzzType(typeURL)
		var nameList []string
		if names != "" {
			nameList = strings.Split(names, ",")
		}
		var detail *statuspb.Status
		if nack {
			detail = &statuspb.Status{Code: 3, Message: names}
		}
		node2 := node
		if id2 != "" {
			node2 = fuzzNode(id2, meta)
		}
		ctx, cancel := context.WithCancel(fuzzPeer(context.Background(), tlsPeer, identity, addr))
		defer cancel()
		xs := serverv3.NewServer(s.xdsCtx, l.view.cache(), callbacks{t: s.tracker, l: l})

		var sentResources func() (envoy int)
		var streamErr error
		done := make(chan struct{})
		if delta {
			st := &memStream[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse]{ctx: ctx}
			st.reqs = append(st.reqs, &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ, ResourceNamesSubscribe: nameList, ResponseNonce: nonce, ErrorDetail: detail})
			if second {
				st.reqs = append(st.reqs, &discoveryv3.DeltaDiscoveryRequest{Node: node2, TypeUrl: fuzzType(nonce), ResourceNamesUnsubscribe: nameList})
			}
			go func() { defer close(done); streamErr = xs.DeltaAggregatedResources(st) }()
			sentResources = func() (n int) {
				st.mu.Lock()
				defer st.mu.Unlock()
				for _, r := range st.sent {
					if !IsMCPType(r.GetTypeUrl()) {
						n += len(r.GetResources())
					}
				}
				return n
			}
		} else {
			st := &memStream[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]{ctx: ctx}
			st.reqs = append(st.reqs, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: nameList, VersionInfo: nonce, ResponseNonce: nonce, ErrorDetail: detail})
			if second {
				st.reqs = append(st.reqs, &discoveryv3.DiscoveryRequest{Node: node2, TypeUrl: fuzzType(nonce), ResourceNames: nameList, ResponseNonce: "1"})
			}
			go func() { defer close(done); streamErr = xs.StreamAggregatedResources(st) }()
			sentResources = func() (n int) {
				st.mu.Lock()
				defer st.mu.Unlock()
				for _, r := range st.sent {
					if !IsMCPType(r.GetTypeUrl()) {
						n += len(r.GetResources())
					}
				}
				return n
			}
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the stream handler did not return (hang)")
		}
		envoy := sentResources()
		if envoy > 0 && !tlsPeer {
			t.Fatalf("a plaintext client got %d proxy resources without --insecure-plaintext-proxies (stream error %v)", envoy, streamErr)
		}
		if envoy > 0 && identity == "" {
			t.Fatalf("a TLS client without a certificate got %d proxy resources", envoy)
		}
		if tlsPeer && !delta && !second && !nack && names == "" && id == waypointNodeID && identity == waypointID && typ == resourcev3.ListenerType && envoy == 0 {
			t.Fatalf("the waypoint itself got no listeners (stream error %v): the harness does not reach the config", streamErr)
		}
		// Nothing left behind once the (zero) grace period has passed.
		deadline := time.Now().Add(5 * time.Second)
		for {
			keys, refs, timers, _ := s.pub.entries()
			s.tracker.mu.Lock()
			streams, peers := len(s.tracker.streams), len(s.tracker.perPeer)
			s.tracker.mu.Unlock()
			if keys == 0 && refs == 0 && timers == 0 && streams == 0 && peers == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("state left behind: %d cache keys, %d refs, %d timers, %d streams, %d client counts", keys, refs, timers, streams, peers)
			}
			time.Sleep(time.Millisecond)
		}
		if streamErr != nil && errors.Is(streamErr, context.Canceled) {
			t.Fatalf("unexpected cancellation: %v", streamErr)
		}
	})
}
