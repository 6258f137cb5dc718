package identity

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
)

// Certificate is a source of one certificate to present.
type Certificate interface {
	// Current is the certificate of the moment, nil when none is loaded yet.
	Current() *tls.Certificate
}

// ServerConfig returns the tls.Config of a server presenting one of certs
// and asking clients for certificates chained to roots.
//
// Each handshake gets the certificates and roots of the moment. The
// certificate is the first of certs whose DNS names match the server name
// the client sent (SNI), else the first one loaded: a client that checks a
// DNS name (istiod's MCP client does, see docs/security.md) is served the
// certificate carrying it, one that checks the SPIFFE id (a proxy) the
// identity from Istio's CA.
//
// Client certificates are requested and, when presented, verified against
// roots (tls.VerifyClientCertIfGiven, what istiod's 15012 does); a client
// without one still connects, and authorization decides what it may read.
// With roots nil no client certificate is asked for.
func ServerConfig(certs []Certificate, roots Roots) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cert := choose(certs, hello.ServerName)
		if cert == nil {
			return nil, errors.New("aeraki has no serving certificate yet")
		}
		cfg := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{*cert},
			NextProtos:   []string{"h2"},
		}
		if roots != nil {
			if pool := roots.Pool(); pool != nil {
				cfg.ClientAuth, cfg.ClientCAs = tls.VerifyClientCertIfGiven, pool
			}
		}
		return cfg, nil
	}
	return base
}

func choose(certs []Certificate, serverName string) *tls.Certificate {
	var first *tls.Certificate
	for _, src := range certs {
		c := src.Current()
		if c == nil {
			continue
		}
		if first == nil {
			first = c
		}
		if serverName != "" && c.Leaf != nil && c.Leaf.VerifyHostname(strings.TrimSuffix(serverName, ".")) == nil {
			return c
		}
	}
	return first
}

// PeerIdentities are the SPIFFE ids (URI SANs) of a verified client
// certificate chain, as istiod's ClientCertAuthenticator reads them.
func PeerIdentities(verified [][]*x509.Certificate) []string {
	if len(verified) == 0 || len(verified[0]) == 0 {
		return nil
	}
	var out []string
	for _, u := range verified[0][0].URIs {
		if u.Scheme == "spiffe" {
			out = append(out, u.String())
		}
	}
	return out
}

// Multi is the union of several root sources (a Secret's ca.crt and the
// mesh root, say).
func Multi(sources ...Roots) Roots { return &multi{sources: sources} }

type multi struct {
	sources []Roots
	cache   pemRoots
}

func (m *multi) PEM() []byte {
	var all [][]byte
	for _, r := range m.sources {
		if p := r.PEM(); len(p) > 0 {
			all = append(all, p)
		}
	}
	return bytes.Join(all, []byte("\n"))
}

func (m *multi) Pool() *x509.CertPool {
	p := m.PEM()
	if len(p) == 0 {
		return nil
	}
	if _, err := m.cache.set(p); err != nil {
		return nil
	}
	return m.cache.Pool()
}
