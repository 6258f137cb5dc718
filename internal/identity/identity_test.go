package identity_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/aeraki-ng/aeraki/internal/identity"
	"github.com/aeraki-ng/aeraki/internal/istioca"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// logBuffer is a logger at every level writing into a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.buf.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDirReloadsTheMountedSecret: a renewed Secret (cert-manager rewrote
// the files) is picked up; a broken update keeps the previous certificate,
// and neither the log nor the error shows the key.
func TestDirReloadsTheMountedSecret(t *testing.T) {
	ca := testenv.NewCA(t, "issuer")
	dir := t.TempDir()
	first := ca.Issue(t, "aeraki.istio-system.svc")
	ca.WriteSecretDir(t, dir, first)
	var logs logBuffer
	d, err := identity.NewDir(identity.DirOptions{Dir: dir, PollInterval: 10 * time.Millisecond, Log: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string { return d.Current().Leaf.SerialNumber.String() }
	was := serial()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ca.WriteSecretDir(t, dir, ca.Issue(t, "aeraki.istio-system.svc"))
	waitUntil(t, "the renewed certificate is served", func() bool { return serial() != was })

	// A key that does not go with the certificate: kept the last good one.
	now := serial()
	other := ca.Issue(t, "x")
	if err := os.WriteFile(filepath.Join(dir, identity.KeyFile), other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the broken update is reported", func() bool { return strings.Contains(logs.String(), "cannot be used") })
	if serial() != now {
		t.Errorf("a broken update replaced the certificate")
	}
	for _, key := range [][]byte{first.KeyPEM, other.KeyPEM} {
		if strings.Contains(logs.String(), string(bytes.TrimSpace(key))[30:80]) || strings.Contains(logs.String(), "PRIVATE KEY") {
			t.Fatalf("the log shows a key:\n%s", logs.String())
		}
	}
	// The error at start-up does not show the key either.
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, identity.CertFile), first.CertPEM, 0o600)
	os.WriteFile(filepath.Join(broken, identity.KeyFile), other.KeyPEM, 0o600)
	if _, err := identity.NewDir(identity.DirOptions{Dir: broken}); err == nil || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("NewDir with a mismatched key: err = %v, want an error without the key", err)
	}
	if _, err := identity.NewDir(identity.DirOptions{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "kubernetes.io/tls Secret") {
		t.Errorf("NewDir on an empty directory: err = %v, want the layout named", err)
	}
}

// TestServerConfigPicksTheCertificateByName: a client naming the
// Secret's DNS name (istiod) gets the Secret's certificate, any other the
// first one loaded; with no certificate the handshake fails; client
// certificates are verified against the roots when presented.
func TestServerConfigPicksTheCertificateByName(t *testing.T) {
	mesh := testenv.NewCA(t, "mesh")
	issuer := testenv.NewCA(t, "issuer")
	secret := t.TempDir()
	issuer.WriteSecretDir(t, secret, issuer.Issue(t, "aeraki.istio-system.svc"))
	d, err := identity.NewDir(identity.DirOptions{Dir: secret})
	if err != nil {
		t.Fatal(err)
	}
	meshCert := &static{}
	rootFile := filepath.Join(t.TempDir(), "root-cert.pem")
	if err := os.WriteFile(rootFile, mesh.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	meshRoots, err := identity.NewFileRoots(rootFile, 0, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	cfg := identity.ServerConfig([]identity.Certificate{meshCert, d}, identity.Multi(d, meshRoots))

	hello := func(name string) (*tls.Config, error) {
		return cfg.GetConfigForClient(&tls.ClientHelloInfo{ServerName: name})
	}
	// The mesh certificate is not loaded yet: everyone gets the Secret's.
	if c, err := hello(""); err != nil || c.Certificates[0].Leaf.DNSNames[0] != "aeraki.istio-system.svc" {
		t.Fatalf("before the mesh certificate: %v", err)
	}
	meshCert.set(&mesh.Issue(t, "spiffe://cluster.local/ns/istio-system/sa/aeraki").Certificate)
	if c, _ := hello(""); len(c.Certificates[0].Leaf.URIs) != 1 {
		t.Errorf("a client naming no server should get the mesh identity")
	}
	if c, _ := hello("aeraki.istio-system.svc"); len(c.Certificates[0].Leaf.DNSNames) != 1 {
		t.Errorf("a client naming the Service should get the Secret's certificate")
	}
	c, _ := hello("x")
	if c.ClientAuth != tls.VerifyClientCertIfGiven || c.ClientCAs == nil {
		t.Errorf("client certificates should be asked for and verified: %v", c.ClientAuth)
	}
	if _, err := identity.ServerConfig([]identity.Certificate{&static{}}, nil).GetConfigForClient(&tls.ClientHelloInfo{}); err == nil {
		t.Errorf("no certificate: the handshake must fail")
	}
}

type static struct {
	mu sync.Mutex
	c  *tls.Certificate
}

func (s *static) set(c *tls.Certificate) { s.mu.Lock(); s.c = c; s.mu.Unlock() }
func (s *static) Current() *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// fakeCA signs CSRs with a test CA for a fixed identity, like Istio's
// CA does for the token's ServiceAccount; fail makes the next calls fail.
type fakeCA struct {
	t    *testing.T
	ca   *testenv.CA
	mu   sync.Mutex
	fail error
	n    int
	// at and notAfter are when each call came and what it issued.
	at, notAfter []time.Time
}

func (f *fakeCA) CreateCertificate(_ context.Context, req istioca.Request) (*istioca.Certificate, error) {
	called := time.Now() // the Rotator measures the lifetime from just before the call
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.fail != nil {
		return nil, f.fail
	}
	c := f.ca.SignCSR(f.t, req.CSR, req.TTL, "spiffe://cluster.local/ns/istio-system/sa/aeraki")
	f.at, f.notAfter = append(f.at, called), append(f.notAfter, c.Leaf.NotAfter)
	return c, nil
}

func (f *fakeCA) calls() int { f.mu.Lock(); defer f.mu.Unlock(); return f.n }

// TestRotatorRenewsAtHalfLife: the certificate is renewed once half its
// lifetime has passed, a failing CA is retried while the current
// certificate stays in use, and the log names serials and expiry only.
func TestRotatorRenewsAtHalfLife(t *testing.T) {
	ca := &fakeCA{t: t, ca: testenv.NewCA(t, "mesh")}
	var logs logBuffer
	r, err := identity.NewRotator(identity.RotatorOptions{CA: ca, Identity: "spiffe://cluster.local/ns/istio-system/sa/aeraki",
		TTL: 2 * time.Second, Log: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-r.Ready()
	first := r.Current()
	if got := first.Leaf.URIs[0].String(); got != "spiffe://cluster.local/ns/istio-system/sa/aeraki" {
		t.Fatalf("identity %s", got)
	}
	waitUntil(t, "the certificate is renewed", func() bool { return r.Current() != first })
	// Not before half of the lifetime: the second request came at least
	// half of the first certificate's remaining life after the first one
	// (a loaded machine only delays it; no wall-clock bound is asserted).
	ca.mu.Lock()
	if half := ca.notAfter[0].Sub(ca.at[0]) / 2; ca.at[1].Sub(ca.at[0]) < half-50*time.Millisecond {
		t.Errorf("renewed %v after the first certificate, before half of its lifetime (%v)", ca.at[1].Sub(ca.at[0]), half)
	}
	ca.mu.Unlock()

	ca.mu.Lock()
	ca.fail = errors.New("istiod is down")
	ca.mu.Unlock()
	renewed, calls := r.Current(), ca.calls()
	waitUntil(t, "the failing CA is retried", func() bool { return ca.calls() >= calls+2 })
	if r.Current() != renewed {
		t.Errorf("a failed renewal dropped the certificate in use")
	}
	if log := logs.String(); strings.Contains(log, "PRIVATE KEY") || !strings.Contains(log, "notAfter") || !strings.Contains(log, "istiod is down") {
		t.Errorf("log:\n%s", log)
	}
}
