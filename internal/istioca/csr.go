package istioca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
)

// GenerateKey returns a new ECDSA P-256 key, the kind Istio's CA signs
// for istio-agent with ECC_SIGNATURE_ALGORITHM=ECDSA.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// NewCSR returns a PEM certificate request for key naming identity (a
// SPIFFE id) as its URI SAN. Istio's CA writes the caller's identity
// whatever the CSR says; CAs that implement the same API and check the
// CSR (cert-manager's istio-csr) want the identity in it.
func NewCSR(key crypto.Signer, identity string) ([]byte, error) {
	tmpl := &x509.CertificateRequest{}
	if identity != "" {
		u, err := url.Parse(identity)
		if err != nil || u.Scheme != "spiffe" || u.Host == "" {
			return nil, fmt.Errorf("istioca: identity %q is not a SPIFFE id (spiffe://<trust-domain>/ns/<ns>/sa/<sa>)", identity)
		}
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("istioca: creating the CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func parseCSR(p []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(p)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("istioca: the CSR is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("istioca: the CSR: %w", err)
	}
	return csr, nil
}
