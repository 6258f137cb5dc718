package agent_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr/testr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aeraki-ng/aeraki/internal/agent"
	"github.com/aeraki-ng/aeraki/internal/identity"
	"github.com/aeraki-ng/aeraki/internal/istioca"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// bound is the longest any wait here lasts; a bound, not a speed claim.
const bound = time.Minute

// ttl is the lifetime asked of istiod: short, so a renewal (at half of
// it) happens within the test.
const ttl = 20 * time.Second

// sdsClient is Envoy's side of the socket: one SotW SDS stream asking for
// names, ACKing every response, keeping the last secret of each name and
// every certificate serial it saw.
type sdsClient struct {
	mu      sync.Mutex
	secrets map[string]*tlsv3.Secret
	serials map[string][]string
	err     error
}

func watchSDS(t *testing.T, socket string, names ...string) *sdsClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := secretv3.NewSecretDiscoveryServiceClient(conn).StreamSecrets(ctx, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	c := &sdsClient{secrets: map[string]*tlsv3.Secret{}, serials: map[string][]string{}}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	node := &corev3.Node{Id: "waypoint/demo/test"}
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.SecretType, ResourceNames: names}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		for {
			r, err := stream.Recv()
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			c.mu.Lock()
			for _, a := range r.GetResources() {
				s := &tlsv3.Secret{}
				if err := a.UnmarshalTo(s); err != nil {
					c.err = err
					continue
				}
				c.secrets[s.GetName()] = s
				if chain := s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(); len(chain) > 0 {
					if leaf, err := firstCert(chain); err == nil {
						sn := leaf.SerialNumber.String()
						if l := c.serials[s.GetName()]; len(l) == 0 || l[len(l)-1] != sn {
							c.serials[s.GetName()] = append(l, sn)
						}
					}
				}
			}
			c.mu.Unlock()
			ack := &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNames: names,
				VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()}
			if err := stream.Send(ack); err != nil {
				return
			}
		}
	}()
	return c
}

func (c *sdsClient) secret(name string) *tlsv3.Secret {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secrets[name]
}

func (c *sdsClient) serialsOf(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.serials[name]...)
}

func firstCert(p []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil, os.ErrInvalid
	}
	return x509.ParseCertificate(b.Bytes)
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", bound, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCert checks an SDS certificate secret: the key goes with the
// chain, the leaf names exactly identity and chains to istiod's root.
func checkCert(t *testing.T, s *tlsv3.Secret, identity string, roots *x509.CertPool) {
	t.Helper()
	chain := s.GetTlsCertificate().GetCertificateChain().GetInlineBytes()
	key := s.GetTlsCertificate().GetPrivateKey().GetInlineBytes()
	tc, err := tls.X509KeyPair(chain, key)
	if err != nil {
		t.Fatalf("%s: the key does not go with the chain: %v", identity, err)
	}
	leaf := tc.Leaf
	if got := istioca.URIs(leaf); len(got) != 1 || got[0] != identity || len(leaf.DNSNames) != 0 {
		t.Errorf("%s: the certificate names URIs %v, DNS %v; want exactly %s", identity, got, leaf.DNSNames, identity)
	}
	inter := x509.NewCertPool()
	for _, der := range tc.Certificate[1:] {
		c, _ := x509.ParseCertificate(der)
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("%s: the certificate does not chain to istiod's root: %v", identity, err)
	}
}

func startAgent(t *testing.T, opts agent.Options) *agent.Agent {
	t.Helper()
	a, err := agent.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(bound):
			t.Errorf("the agent did not stop within %v", bound)
		}
		if _, err := os.Stat(opts.Socket); err == nil {
			t.Errorf("the agent left its socket %s behind", opts.Socket)
		}
	})
	return a
}

// TestAgentWithIstiodCA runs the agent against the real istiod's CA, with
// CA_TRUSTED_NODE_ACCOUNTS=istio-system/ztunnel, and reads its socket the
// way Envoy does (SotW SDS, go-control-plane's types).
//
// Waypoint mode: the pod's identity (SAN checked, chained to istiod's
// root), ROOTCA = istio-ca-root-cert, renewed at half its lifetime and
// pushed on the open stream; another name asked for is not served.
//
// Ztunnel mode: certificates for two identities with pods on the
// ztunnel's node, each impersonated; a pod's identity on another node is
// refused by istiod (its log says why) and never served.
func TestAgentWithIstiodCA(t *testing.T) {
	testenv.RequireIstiod(t)
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, CA: true,
		Env: []string{"CA_TRUSTED_NODE_ACCOUNTS=istio-system/ztunnel"}})
	rootPEM := ist.RootCert(t, "istio-system")
	rootFile := filepath.Join(t.TempDir(), "root-cert.pem")
	if err := os.WriteFile(rootFile, rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	roots, err := identity.NewFileRoots(rootFile, 0, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	// The ClusterID header, as istio-agent sends it: istiod's node
	// authorizer is per cluster and finds none without it ("no node
	// authorizer for cluster").
	ca := func(token string) *istioca.Client {
		c, err := istioca.New(istioca.Options{Address: ist.SecureXDSAddr, ServerName: "istiod.istio-system.svc", ClusterID: testenv.IstiodClusterID,
			Roots: roots.Pool, Token: func(context.Context) (string, error) { return token, nil }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("waypoint", func(t *testing.T) {
		const id = "spiffe://cluster.local/ns/demo/sa/waypoint"
		const other = "spiffe://cluster.local/ns/demo/sa/someone-else"
		socket := filepath.Join(t.TempDir(), "socket")
		a := startAgent(t, agent.Options{Mode: agent.ModeWaypoint, Identity: id, Socket: socket, TTL: ttl, Roots: roots, Log: testr.New(t),
			CA: ca(testenv.ServiceAccountToken(t, cfg, "demo", "waypoint", testenv.IstioCAAudience, time.Hour))})
		sds := watchSDS(t, socket, id, agent.RootCAName, other)
		waitUntil(t, "the waypoint's certificate and ROOTCA are served", func() bool {
			return sds.secret(id) != nil && sds.secret(agent.RootCAName) != nil
		})
		checkCert(t, sds.secret(id), id, roots.Pool())
		if got := sds.secret(agent.RootCAName).GetValidationContext().GetTrustedCa().GetInlineBytes(); !bytes.Equal(got, rootPEM) {
			t.Errorf("ROOTCA is not istio-ca-root-cert's root:\n%s", got)
		}
		first := sds.serialsOf(id)[0]
		waitUntil(t, "the renewed certificate is pushed on the open stream", func() bool { return len(sds.serialsOf(id)) > 1 })
		checkCert(t, sds.secret(id), id, roots.Pool())
		t.Logf("certificate %s renewed as %s", first, sds.serialsOf(id)[1])
		if sds.secret(other) != nil {
			t.Errorf("the waypoint's agent served %s", other)
		}
		if ids := a.Identities(); len(ids) != 1 || ids[0].Name != id {
			t.Errorf("identities kept: %+v, want the pod's only", ids)
		}
	})

	t.Run("ztunnel", func(t *testing.T) {
		zt := testenv.CreatePod(t, cfg, "istio-system", "ztunnel-a", "ztunnel", "node-a", "")
		testenv.CreatePod(t, cfg, "apps", "alpha-0", "alpha", "node-a", "")
		testenv.CreatePod(t, cfg, "apps", "beta-0", "beta", "node-a", "")
		testenv.CreatePod(t, cfg, "apps", "gamma-0", "gamma", "node-b", "")
		const (
			alpha   = "spiffe://cluster.local/ns/apps/sa/alpha"
			beta    = "spiffe://cluster.local/ns/apps/sa/beta"
			gamma   = "spiffe://cluster.local/ns/apps/sa/gamma"
			foreign = "spiffe://example.org/ns/apps/sa/alpha"
		)
		socket := filepath.Join(t.TempDir(), "socket")
		a := startAgent(t, agent.Options{Mode: agent.ModeZtunnel, Identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel",
			TrustDomain: "cluster.local", Socket: socket, TTL: ttl, Roots: roots, Log: testr.New(t),
			CA: ca(testenv.PodToken(t, cfg, zt, testenv.IstioCAAudience))})
		sds := watchSDS(t, socket, alpha, beta, gamma, foreign, agent.RootCAName)
		waitUntil(t, "both node-a identities are served", func() bool { return sds.secret(alpha) != nil && sds.secret(beta) != nil })
		checkCert(t, sds.secret(alpha), alpha, roots.Pool())
		checkCert(t, sds.secret(beta), beta, roots.Pool())

		var refused error
		waitUntil(t, "istiod refuses the node-b identity", func() bool {
			for _, s := range a.Identities() {
				if s.Name == gamma {
					refused = s.Err
				}
			}
			return refused != nil
		})
		if !strings.Contains(refused.Error(), "CA_TRUSTED_NODE_ACCOUNTS") {
			t.Errorf("the refusal does not say what istiod checks: %v", refused)
		}
		t.Logf("agent: %v", refused)
		t.Logf("istiod: %s", ist.WaitLog(t, `no instances of "apps/gamma" found on node "node-a"`, bound))

		waitUntil(t, "alpha's certificate is renewed", func() bool { return len(sds.serialsOf(alpha)) > 1 })
		checkCert(t, sds.secret(alpha), alpha, roots.Pool())
		for _, n := range []string{gamma, foreign} {
			if sds.secret(n) != nil {
				t.Errorf("the ztunnel's agent served %s", n)
			}
		}
		for _, s := range a.Identities() {
			if s.Name == foreign {
				t.Errorf("the agent asked the CA for %s, outside the trust domain", foreign)
			}
		}
	})
}
