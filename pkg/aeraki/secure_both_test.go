package aeraki

import (
	"crypto/tls"
	"slices"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestBothCertificateSources: with a mounted Secret and the identity
// from Istio's CA, a client naming the Secret's DNS name (istiod, with
// tlsSettings.sni) gets the Secret's certificate, and a client naming no
// server (a proxy, which checks the SPIFFE id: the waypoint bootstrap
// sends no SNI) gets the mesh identity once it is in, as docs/security.md
// ("Both") says.
func TestBothCertificateSources(t *testing.T) {
	testenv.RequireIstiod(t)
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, CA: true})
	secret := t.TempDir()
	issuer := testenv.NewCA(t, "cert-manager issuer")
	issuer.WriteSecretDir(t, secret, issuer.Issue(t, aerakiDNS))
	tlsAddr := freeAddr(t)
	serve(t, append([]string{"--config-dir", t.TempDir(), "--tls-address", tlsAddr, "--tls-cert-dir", secret},
		caFlags(t, cfg, ist, "istio-system", "aeraki")...)...)

	presented := func(sni string) (dns, uris []string) {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // only reads what is presented
		if err != nil {
			return nil, nil
		}
		defer c.Close()
		leaf := c.ConnectionState().PeerCertificates[0]
		for _, u := range leaf.URIs {
			uris = append(uris, u.String())
		}
		return leaf.DNSNames, uris
	}
	waitFor(t, e2eWait, "a client without SNI gets aeraki's identity from Istio's CA", func() bool {
		_, uris := presented("")
		return slices.Equal(uris, []string{aerakiSPIFFE})
	})
	if dns, _ := presented(aerakiDNS); !slices.Equal(dns, []string{aerakiDNS}) {
		t.Errorf("a client naming %s got a certificate for %v, want the Secret's", aerakiDNS, dns)
	}
}
