package aeraki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// meshClient connects to aeraki's TLS address the way a proxy does: it
// presents its certificate from istiod's CA and checks aeraki's against
// the mesh root and aeraki's SPIFFE id (Envoy's SAN matcher), with no DNS
// name. It records the serial of every certificate aeraki presented.
type meshClient struct {
	addr  string
	roots *x509.CertPool
	cert  *tls.Certificate

	mu      sync.Mutex
	serials []string
}

func (m *meshClient) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below: chain to the mesh root and the SPIFFE id, as Envoy does
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			inter := x509.NewCertPool()
			for _, r := range raw[1:] {
				if c, err := x509.ParseCertificate(r); err == nil {
					inter.AddCert(c)
				}
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				return err
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != aerakiSPIFFE {
				return fmt.Errorf("aeraki's certificate names %v, want %s", leaf.URIs, aerakiSPIFFE)
			}
			m.mu.Lock()
			m.serials = append(m.serials, leaf.SerialNumber.String())
			m.mu.Unlock()
			return nil
		},
	}
	if m.cert != nil {
		cfg.Certificates = []tls.Certificate{*m.cert}
	}
	conn, err := grpc.NewClient(m.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (m *meshClient) lastSerial() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.serials) == 0 {
		return ""
	}
	return m.serials[len(m.serials)-1]
}

// adsStream is a minimal ADS stream.
type adsStream struct {
	t      *testing.T
	node   *corev3.Node
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	err    error // why the stream did not open
}

// openADS opens a stream; a stream that cannot open (a failed
// handshake) fails its first listeners call.
func openADS(t *testing.T, conn *grpc.ClientConn, nodeID string) *adsStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	return &adsStream{t: t, node: &corev3.Node{Id: nodeID}, stream: s, err: err}
}

// listeners asks for (or ACKs r and waits for more) listeners.
func (a *adsStream) listeners(ack *discoveryv3.DiscoveryResponse) (*discoveryv3.DiscoveryResponse, error) {
	if a.err != nil {
		return nil, a.err
	}
	req := &discoveryv3.DiscoveryRequest{Node: a.node, TypeUrl: resourcev3.ListenerType}
	if ack != nil {
		req.VersionInfo, req.ResponseNonce = ack.GetVersionInfo(), ack.GetNonce()
	}
	if err := a.stream.Send(req); err != nil {
		return nil, err
	}
	type res struct {
		r   *discoveryv3.DiscoveryResponse
		err error
	}
	got := make(chan res, 1)
	go func() { r, err := a.stream.Recv(); got <- res{r, err} }()
	select {
	case r := <-got:
		return r.r, r.err
	case <-time.After(e2eWait):
		return nil, errors.New("no answer within the bound")
	}
}

func copyExampleDir(t *testing.T, root, example, dir string) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(root, "examples", example), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, d.Name()), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestIdentityFromIstiodCA: `aeraki serve` gets its certificate from the
// real istiod's CA, authenticated by a ServiceAccount token the API
// server issued (TokenRequest, audience istio-ca; istiod checks it with
// TokenReview), and serves its TLS address with it. Proxies present
// certificates from the same CA: the waypoint's identity gets the
// waypoint's config; another workload's identity, no certificate, the
// ztunnel identity asking for another node's config, and a waypoint of
// class istio-waypoint (istiod's) asking with its own identity get
// PermissionDenied.
// The certificate is short-lived and renewed at half its lifetime: new
// connections get the new one, and a stream opened before keeps receiving
// updates. istiod cannot read MCP from such a certificate (it has no DNS
// name), which is why istiod gets the Secret's (TestIstiodReadsMCPOverTLS).
// Nothing secret reaches the log, at trace level.
func TestIdentityFromIstiodCA(t *testing.T) {
	testenv.RequireIstiod(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, CA: true})
	rootPEM := ist.RootCert(t, "istio-system")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)

	files := t.TempDir()
	token := testenv.ServiceAccountToken(t, cfg, "istio-system", "aeraki", testenv.IstioCAAudience, time.Hour)
	write(t, files, "istio-token", token)
	write(t, files, "root-cert.pem", string(rootPEM))
	dir := t.TempDir()
	copyExampleDir(t, root, "ambient-dubbo", dir)
	write(t, dir, "ztunnel.yaml", `apiVersion: v1
kind: Pod
metadata: {name: ztunnel-b7x2k, namespace: istio-system, labels: {app: ztunnel}}
spec:
  nodeName: node-b
  serviceAccountName: ztunnel
  containers: [{name: istio-proxy, image: istio/ztunnel}]
status: {phase: Running, podIP: 127.0.0.1}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: istiod-wp, namespace: dubbo-ambient}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
`)

	const ttl = 40 * time.Second
	tlsAddr := freeAddr(t)
	s := serve(t, "--config-dir", dir, "--tls-address", tlsAddr, "--debounce", "50ms", "--log-level", "trace",
		"--ca-address", ist.SecureXDSAddr, "--ca-server-name", "istiod.istio-system.svc",
		"--ca-token-file", filepath.Join(files, "istio-token"), "--ca-root-cert-file", filepath.Join(files, "root-cert.pem"),
		"--cert-ttl", ttl.String())

	client := func(ns, sa string) *meshClient {
		m := &meshClient{addr: tlsAddr, roots: roots}
		if sa != "" {
			m.cert = &ist.IstioCertificate(t, cfg, ns, sa, time.Hour).Certificate
		}
		return m
	}
	waypoint := client("dubbo-ambient", "waypoint")

	// The first connection that works is served the CA's certificate.
	var wp *adsStream
	var first *discoveryv3.DiscoveryResponse
	deadline := time.Now().Add(e2eWait)
	for {
		wp = openADS(t, waypoint.dial(t), "waypoint/dubbo-ambient/waypoint")
		if first, err = wp.listeners(nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waypoint never got its config over TLS: %v\n%s", err, s.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(first.GetResources()) == 0 {
		t.Fatal("the waypoint got no listeners")
	}
	firstSerial := waypoint.lastSerial()

	for _, c := range []struct {
		name   string
		client *meshClient
		node   string
		want   string
	}{
		{"another workload's identity", client("dubbo-ambient", "dubbo-consumer"), "waypoint/dubbo-ambient/waypoint", "spiffe://cluster.local/ns/dubbo-ambient/sa/waypoint"},
		{"no certificate", client("", ""), "waypoint/dubbo-ambient/waypoint", "no certificate"},
		{"a ztunnel asking for another node", client("istio-system", "ztunnel"), "ztunnel/node-a", `not on node "node-a"`},
		{"an istiod-served waypoint, with its own identity", client("dubbo-ambient", "istiod-wp"), "waypoint/dubbo-ambient/istiod-wp", "which istiod serves"},
	} {
		_, err := openADS(t, c.client.dial(t), c.node).listeners(nil)
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want PermissionDenied naming %q", c.name, err, c.want)
		}
	}
	if r, err := openADS(t, client("istio-system", "ztunnel").dial(t), "ztunnel/node-b").listeners(nil); err != nil || len(r.GetResources()) == 0 {
		t.Errorf("the ztunnel on node-b: %v, want its node's listeners", err)
	}

	// Rotation: a new connection soon sees another certificate...
	probe := client("dubbo-ambient", "waypoint")
	waitFor(t, 2*ttl, "aeraki renews its certificate", func() bool {
		if _, err := openADS(t, probe.dial(t), "waypoint/dubbo-ambient/waypoint").listeners(nil); err != nil {
			t.Logf("probe: %v", err)
		}
		return probe.lastSerial() != "" && probe.lastSerial() != firstSerial
	})
	t.Logf("certificate %s replaced by %s", firstSerial, probe.lastSerial())
	// ...and the stream opened on the first one still gets updates.
	write(t, dir, "routing.yaml", strings.ReplaceAll(readFile(t, filepath.Join(root, "examples", "ambient-dubbo", "routing.yaml")), "exact: sayHello", "exact: sayHi"))
	last := first
	waitFor(t, e2eWait, "the stream opened before the rotation gets the edited route", func() bool {
		r, err := wp.listeners(last)
		if err != nil {
			t.Fatalf("the stream opened before the rotation ended: %v", err)
		}
		last = r
		return strings.Contains(r.String(), "sayHi")
	})

	// istiod cannot read MCP from a certificate of its own CA: it has no
	// DNS name to check.
	bad := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, ConfigSources: []string{}, NoWait: true,
		MeshConfig: mcpOverTLS(tlsAddr, rootPEM, aerakiDNS)})
	t.Logf("istiod: %s", bad.WaitLog(t, "x509: certificate is not valid for any names", time.Minute))

	log := s.stderr.String()
	for what, secret := range map[string]string{"the token": token, "a private key": "PRIVATE KEY"} {
		if strings.Contains(log, secret) {
			t.Errorf("aeraki's trace log shows %s", what)
		}
	}
	if !strings.Contains(log, "certificate from the CA") {
		t.Errorf("the log does not show the certificates obtained")
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
