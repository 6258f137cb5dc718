package istioca_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/istioca"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestRealIstiodSignsForTheTokensServiceAccount runs istiod with its CA
// and asks it for certificates the way aeraki does: the issued leaf names
// the token's ServiceAccount (not what the CSR says), lasts the lifetime
// asked for, and chains to the root istiod publishes in
// istio-ca-root-cert. A token for another audience, and an impersonation
// request from a caller istiod does not trust, are refused.
func TestRealIstiodSignsForTheTokensServiceAccount(t *testing.T) {
	testenv.RequireIstiod(t)
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, CA: true})
	rootPEM := ist.RootCert(t, "istio-system")
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("istio-ca-root-cert does not parse")
	}

	token := testenv.ServiceAccountToken(t, cfg, "istio-system", "aeraki", testenv.IstioCAAudience, time.Hour)
	c, err := istioca.New(istioca.Options{
		Address:    ist.SecureXDSAddr,
		ServerName: "istiod.istio-system.svc",
		Roots:      func() *x509.CertPool { return roots },
		Token:      func(context.Context) (string, error) { return token, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	key, err := istioca.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// The CSR asks for another identity: the CA writes the caller's.
	csr, err := istioca.NewCSR(key, "spiffe://cluster.local/ns/default/sa/someone-else")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cert, err := c.CreateCertificate(ctx, istioca.Request{CSR: csr, TTL: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if ids := cert.Identities(); len(ids) != 1 || ids[0] != "spiffe://cluster.local/ns/istio-system/sa/aeraki" {
		t.Errorf("identities = %v, want the token's ServiceAccount spiffe://cluster.local/ns/istio-system/sa/aeraki", ids)
	}
	if len(cert.Leaf.DNSNames) != 0 || len(cert.Leaf.IPAddresses) != 0 {
		t.Errorf("Istio's CA wrote DNS names %v / IPs %v; the package docs say it writes none", cert.Leaf.DNSNames, cert.Leaf.IPAddresses)
	}
	// istiod backdates NotBefore by two minutes (clock skew); NotAfter is
	// the lifetime asked for from now.
	if left := time.Until(cert.Leaf.NotAfter); left > 95*time.Second || left < 60*time.Second {
		t.Errorf("the certificate expires in %v, want the 90s asked for", left)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the leaf does not chain to istio-ca-root-cert: %v", err)
	}
	if !roots.Equal(poolOf(t, cert.RootPEM)) {
		t.Errorf("the root the CA sent is not istio-ca-root-cert's:\n%s", cert.RootPEM)
	}

	// Impersonation needs CA_TRUSTED_NODE_ACCOUNTS: the metadata reaches
	// istiod, which refuses it.
	if _, err := c.CreateCertificate(ctx, istioca.Request{CSR: csr, ImpersonatedIdentity: "spiffe://cluster.local/ns/default/sa/app"}); err == nil ||
		!strings.Contains(err.Error(), "impersonation") {
		t.Errorf("impersonation from an untrusted caller: err = %v, want istiod's impersonation refusal", err)
	}

	// A token for another audience fails TokenReview.
	wrong := testenv.ServiceAccountToken(t, cfg, "istio-system", "aeraki", "kubernetes", time.Hour)
	bad, err := istioca.New(istioca.Options{
		Address: ist.SecureXDSAddr, ServerName: "istiod.istio-system.svc",
		Roots: func() *x509.CertPool { return roots },
		Token: func(context.Context) (string, error) { return wrong, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = bad.CreateCertificate(ctx, istioca.Request{CSR: csr})
	if err == nil || !strings.Contains(err.Error(), "audience istio-ca") {
		t.Errorf("wrong audience: err = %v, want the refusal explained", err)
	}
	if err != nil && strings.Contains(err.Error(), wrong) {
		t.Errorf("the error shows the token: %v", err)
	}

	// istiod's certificate is checked: another DNS name is refused.
	other, err := istioca.New(istioca.Options{
		Address: ist.SecureXDSAddr, ServerName: "not-istiod.example.com",
		Roots: func() *x509.CertPool { return roots },
		Token: func(context.Context) (string, error) { return token, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.CreateCertificate(ctx, istioca.Request{CSR: csr}); err == nil || !strings.Contains(err.Error(), "not-istiod.example.com") {
		t.Errorf("wrong server name: err = %v, want a certificate name mismatch", err)
	}
}

func poolOf(t *testing.T, pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		t.Fatal("PEM does not parse")
	}
	return p
}
