package istioca_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/aeraki-ng/aeraki/internal/istioca"
)

// A pod asks istiod for a certificate for its own ServiceAccount with
// its projected token (audience istio-ca) and the mesh root from the
// istio-ca-root-cert ConfigMap, mounted as files.
func ExampleClient_CreateCertificate() {
	rootPEM, err := os.ReadFile("/var/run/secrets/istio/root-cert.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	c, err := istioca.New(istioca.Options{
		Address: "istiod.istio-system.svc:15012",
		Roots:   func() *x509.CertPool { return roots },
		Token:   istioca.FileToken("/var/run/secrets/tokens/istio-token"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	key, _ := istioca.GenerateKey()
	csr, _ := istioca.NewCSR(key, "spiffe://cluster.local/ns/istio-system/sa/aeraki")
	cert, err := c.CreateCertificate(context.Background(), istioca.Request{CSR: csr, TTL: 24 * time.Hour})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cert.Identities(), cert.Leaf.NotAfter)
}

// A node agent asks for a certificate on behalf of a workload on its
// node; istiod allows it for callers listed in CA_TRUSTED_NODE_ACCOUNTS.
func ExampleRequest_impersonation() {
	key, _ := istioca.GenerateKey()
	csr, _ := istioca.NewCSR(key, "spiffe://cluster.local/ns/shop/sa/cart")
	req := istioca.Request{CSR: csr, ImpersonatedIdentity: "spiffe://cluster.local/ns/shop/sa/cart"}
	fmt.Println(req.ImpersonatedIdentity)
	// Output: spiffe://cluster.local/ns/shop/sa/cart
}
