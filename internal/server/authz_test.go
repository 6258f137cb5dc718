package server

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// ztunnelPod is Istio's ztunnel on node-b, at the address the tests
// connect from: how aeraki finds which node a ztunnel client runs on.
const ztunnelPod = `
apiVersion: v1
kind: Pod
metadata: {name: ztunnel-b7x2k, namespace: istio-system, labels: {app: ztunnel}}
spec:
  nodeName: node-b
  serviceAccountName: ztunnel
  containers: [{name: istio-proxy, image: istio/ztunnel}]
status: {phase: Running, podIP: 127.0.0.1}
`

const (
	waypointID     = "spiffe://cluster.local/ns/dubbo-ambient/sa/waypoint"
	consumerID     = "spiffe://cluster.local/ns/dubbo-ambient/sa/dubbo-consumer"
	ztunnelID      = "spiffe://cluster.local/ns/istio-system/sa/ztunnel"
	waypointNodeID = "waypoint/dubbo-ambient/waypoint"
)

func ambientServer(t *testing.T, adjust func(*Options)) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	copyExample(t, "ambient-dubbo", dir)
	writeFile(t, dir, "ztunnel.yaml", ztunnelPod)
	return startTLSServer(t, dir, adjust)
}

// refusedWith asks for listeners (or typeURL) as node and returns the
// error the stream ended with, failing unless it has code.
func refusedWith(t *testing.T, c *adsClient, code codes.Code, typeURL ...string) error {
	t.Helper()
	typ := resourcev3.ListenerType
	if len(typeURL) > 0 {
		typ = typeURL[0]
	}
	c.send(typ, nil, "", "", nil)
	err := c.recvErr()
	if status.Code(err) != code {
		t.Fatalf("node %s: err = %v, want %v", c.node.GetId(), err, code)
	}
	// No config in the error: no listener, chain or cluster names.
	for _, leak := range []string{"inbound-vip", "outbound|", "connect_originate", "main_internal", "10.96."} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("the refusal shows config (%q): %v", leak, err)
		}
	}
	return err
}

// TestTLSAuthorizesEachProxy: over TLS with mesh-CA client certificates,
// a waypoint's config goes to the waypoint's identity only, a ztunnel's to
// the ztunnel identity only for the node its pod runs on; a client with
// the wrong identity, with no certificate, or a ztunnel asking for another
// node gets PermissionDenied naming what was missing, counted and never
// showing config.
func TestTLSAuthorizesEachProxy(t *testing.T) {
	srv := ambientServer(t, nil)
	waypoint := srv.ca.Issue(t, waypointID)
	consumer := srv.ca.Issue(t, consumerID)
	ztunnel := srv.ca.Issue(t, ztunnelID)

	// The waypoint's own identity gets its listeners.
	c := newADSClientOn(t, dialTLS(t, srv, waypoint), &corev3.Node{Id: waypointNodeID})
	c.send(resourcev3.ListenerType, nil, "", "", nil)
	if r := c.recv(resourcev3.ListenerType); len(r.GetResources()) == 0 {
		t.Fatal("the waypoint got no listeners")
	}

	// Another workload's identity does not.
	err := refusedWith(t, newADSClientOn(t, dialTLS(t, srv, consumer), &corev3.Node{Id: waypointNodeID}), codes.PermissionDenied)
	if !strings.Contains(err.Error(), waypointID) || !strings.Contains(err.Error(), consumerID) {
		t.Errorf("the refusal should name the identity wanted and the one presented: %v", err)
	}

	// No certificate: refused.
	err = refusedWith(t, newADSClientOn(t, dialTLS(t, srv, nil), &corev3.Node{Id: waypointNodeID}), codes.PermissionDenied)
	if !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("the refusal should say the certificate is missing: %v", err)
	}

	// The ztunnel on node-b (its pod is at 127.0.0.1) gets node-b's config...
	zb := newADSClientOn(t, dialTLS(t, srv, ztunnel), &corev3.Node{Id: "ztunnel/node-b"})
	zb.send(resourcev3.ListenerType, nil, "", "", nil)
	if r := zb.recv(resourcev3.ListenerType); len(r.GetResources()) == 0 {
		t.Fatal("the ztunnel got no listeners for its own node")
	}
	// ...and not node-a's.
	err = refusedWith(t, newADSClientOn(t, dialTLS(t, srv, ztunnel), &corev3.Node{Id: "ztunnel/node-a"}), codes.PermissionDenied)
	if !strings.Contains(err.Error(), `on node "node-b", not on node "node-a"`) {
		t.Errorf("the refusal should name both nodes: %v", err)
	}
	// A workload identity is no ztunnel, even for its own node.
	refusedWith(t, newADSClientOn(t, dialTLS(t, srv, consumer), &corev3.Node{Id: "ztunnel/node-a"}), codes.PermissionDenied)

	for reason, want := range map[string]float64{"identity": 3, "no-certificate": 1} {
		if v := metricValue(t, srv.MonitoringAddr(), `aeraki_xds_refused_total{listener="tls",reason="`+reason+`"}`); v != want {
			t.Errorf("refusals for %s: %v, want %v", reason, v, want)
		}
	}
}

// TestTLSRefusesOtherCAs: a client certificate from another CA fails the
// handshake (the client never gets a stream); a Go client that sees the
// server wants certificates of the mesh CA does not even send it, and is
// then a client without a certificate.
func TestTLSRefusesOtherCAs(t *testing.T) {
	srv := ambientServer(t, nil)
	other := testenv.NewCA(t, "other").Issue(t, waypointID)
	forced := &tls.Config{RootCAs: srv.ca.Pool(), ServerName: aerakiDNS, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &other.Certificate, nil }}
	conn, err := grpc.NewClient(srv.SecureXDSAddr(), grpc.WithTransportCredentials(credentials.NewTLS(forced)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err = discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	// The server's alert is "unknown certificate authority"; the client
	// may see its own write fail first, so only the code is checked.
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want the handshake to fail (Unavailable)", err)
	}
	err = refusedWith(t, newADSClientOn(t, dialTLS(t, srv, other), &corev3.Node{Id: waypointNodeID}), codes.PermissionDenied)
	if !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("err = %v, want the client treated as presenting no certificate", err)
	}
}

// TestStreamCannotChangeItsNode: a stream authorized as the waypoint
// cannot then ask as another proxy.
func TestStreamCannotChangeItsNode(t *testing.T) {
	srv := ambientServer(t, nil)
	c := newADSClientOn(t, dialTLS(t, srv, srv.ca.Issue(t, waypointID)), &corev3.Node{Id: waypointNodeID})
	c.send(resourcev3.ListenerType, nil, "", "", nil)
	c.recv(resourcev3.ListenerType)
	c.node = &corev3.Node{Id: "ztunnel/node-b"}
	refusedWith(t, c, codes.InvalidArgument)
}

// TestPlaintextServesMCPButNoProxies: without --insecure-plaintext-proxies
// the plaintext address refuses proxy config and still serves istiod.
func TestPlaintextServesMCPButNoProxies(t *testing.T) {
	srv := ambientServer(t, nil)
	err := refusedWith(t, newADSClient(t, srv.XDSAddr(), &corev3.Node{Id: waypointNodeID}), codes.PermissionDenied)
	if !strings.Contains(err.Error(), "--insecure-plaintext-proxies") || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("the refusal should say where to connect and which flag restores plaintext: %v", err)
	}
	c := newADSClient(t, srv.XDSAddr(), istiodNode())
	c.send(EnvoyFilterType, nil, "", "", nil)
	c.recv(EnvoyFilterType)
}

// TestMCPIdentities: with MCPIdentities set, MCP on the TLS address goes
// to those identities only.
func TestMCPIdentities(t *testing.T) {
	const istiodID = "spiffe://cluster.local/ns/istio-system/sa/istiod"
	srv := ambientServer(t, func(o *Options) { o.Authorization.MCPIdentities = []string{istiodID} })
	c := newADSClientOn(t, dialTLS(t, srv, srv.ca.Issue(t, istiodID)), istiodNode())
	c.send(EnvoyFilterType, nil, "", "", nil)
	c.recv(EnvoyFilterType)
	err := refusedWith(t, newADSClientOn(t, dialTLS(t, srv, nil), istiodNode()), codes.PermissionDenied, EnvoyFilterType)
	if !strings.Contains(err.Error(), istiodID) {
		t.Errorf("the refusal should name who may read MCP: %v", err)
	}
}
