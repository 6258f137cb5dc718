package agent_test

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/aeraki-ng/aeraki/internal/agent"
	"github.com/aeraki-ng/aeraki/internal/istioca"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// nodeCA signs like istiod with CA_TRUSTED_NODE_ACCOUNTS for a ztunnel
// on a node: its own identity without impersonation, the identities of
// local pods with it, nothing else. It records what was asked.
type nodeCA struct {
	t     *testing.T
	ca    *testenv.CA
	self  string
	local map[string]bool

	mu    sync.Mutex
	asked []string
}

func (n *nodeCA) CreateCertificate(_ context.Context, req istioca.Request) (*istioca.Certificate, error) {
	n.mu.Lock()
	n.asked = append(n.asked, req.ImpersonatedIdentity)
	n.mu.Unlock()
	id := n.self
	if req.ImpersonatedIdentity != "" {
		if !n.local[req.ImpersonatedIdentity] {
			return nil, errors.New("request impersonation authentication failure")
		}
		id = req.ImpersonatedIdentity
	}
	return n.ca.SignCSR(n.t, req.CSR, req.TTL, id), nil
}

// TestAgentServesWhatEnvoyAsksFor is the agent's behaviour without
// istiod (TestAgentWithIstiodCA runs it against the real CA): the names
// Envoy asks for drive the requests, a refused identity is reported and
// never served, and a renewal reaches the open stream.
func TestAgentServesWhatEnvoyAsksFor(t *testing.T) {
	mesh := testenv.NewCA(t, "mesh")
	const (
		self  = "spiffe://cluster.local/ns/istio-system/sa/ztunnel"
		alpha = "spiffe://cluster.local/ns/apps/sa/alpha"
		gamma = "spiffe://cluster.local/ns/apps/sa/gamma"
	)
	ca := &nodeCA{t: t, ca: mesh, self: self, local: map[string]bool{alpha: true}}
	socket := filepath.Join(t.TempDir(), "socket")
	a := startAgent(t, agent.Options{Mode: agent.ModeZtunnel, CA: ca, Roots: staticRoots(mesh.CertPEM), Identity: self,
		TrustDomain: "cluster.local", Socket: socket, TTL: 2 * time.Second, Log: testr.New(t)})
	sds := watchSDS(t, socket, alpha, gamma, "not-a-spiffe-id", agent.RootCAName)
	waitUntil(t, "alpha and ROOTCA are served", func() bool { return sds.secret(alpha) != nil && sds.secret(agent.RootCAName) != nil })
	checkCert(t, sds.secret(alpha), alpha, mesh.Pool())
	waitUntil(t, "alpha is renewed on the open stream", func() bool { return len(sds.serialsOf(alpha)) > 2 })
	var refused error
	for _, s := range a.Identities() {
		if s.Name == gamma {
			refused = s.Err
		}
		if s.Name == "not-a-spiffe-id" {
			t.Errorf("the agent asked the CA for a name that is no SPIFFE id")
		}
	}
	if refused == nil || sds.secret(gamma) != nil {
		t.Errorf("gamma: err %v, served %v; want refused and not served", refused, sds.secret(gamma) != nil)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	for _, id := range ca.asked {
		if id != alpha && id != gamma {
			t.Errorf("the agent impersonated %q", id)
		}
	}
}

type staticRoots []byte

func (s staticRoots) PEM() []byte { return s }
func (s staticRoots) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(s)
	return p
}
