package istioca

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	pb "istio.io/api/security/v1alpha1"
)

// Metadata keys of a certificate request istiod reads
// (pkg/security/security.go in istio/istio).
const (
	// MetadataImpersonatedIdentity asks for a certificate for another
	// identity than the caller's. istiod grants it only to callers in
	// CA_TRUSTED_NODE_ACCOUNTS, for identities running on the caller's node.
	MetadataImpersonatedIdentity = "ImpersonatedIdentity"
	// MetadataCertSigner names the signer when istiod runs several.
	MetadataCertSigner = "CertSigner"
)

// DefaultServerName is the DNS name istiod's 15012 certificate carries
// in the default istio-system install (istiod.<namespace>.svc).
const DefaultServerName = "istiod.istio-system.svc"

// Options configure a Client.
type Options struct {
	// Address is istiod's CA endpoint, host:port, such as
	// "istiod.istio-system.svc:15012". Required.
	Address string
	// ServerName is the DNS name istiod's certificate must carry; the host
	// of Address when that is a name, else DefaultServerName.
	ServerName string
	// Roots returns the roots istiod's certificate must chain to (the mesh
	// root, from the istio-ca-root-cert ConfigMap). It is called on every
	// handshake, so a rotated root is picked up without a new Client.
	// Required.
	Roots func() *x509.CertPool
	// Token returns the ServiceAccount token (audience istio-ca) sent with
	// every request; FileToken reads a projected token file. Required.
	Token func(context.Context) (string, error)
	// ClusterID is sent as the ClusterID header, for istiod to pick the
	// cluster it reviews the token with; empty means istiod's own cluster.
	ClusterID string
	// Timeout bounds one CreateCertificate call; 30s when zero.
	Timeout time.Duration
	// DialOptions are added to the connection's (tests: a custom dialer).
	DialOptions []grpc.DialOption
}

// Client calls Istio's CA. It is safe for concurrent use.
type Client struct {
	opts Options
	conn *grpc.ClientConn
	ca   pb.IstioCertificateServiceClient
}

// New returns a Client; it connects on the first request.
func New(opts Options) (*Client, error) {
	if opts.Address == "" {
		return nil, errors.New("istioca: the CA address (istiod's host:15012) is required")
	}
	if opts.Roots == nil {
		return nil, errors.New("istioca: the mesh root certificates are required to verify istiod")
	}
	if opts.Token == nil {
		return nil, errors.New("istioca: a ServiceAccount token source is required")
	}
	host, _, err := net.SplitHostPort(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("istioca: CA address %q: %w", opts.Address, err)
	}
	if opts.ServerName == "" {
		opts.ServerName = host
		if net.ParseIP(host) != nil {
			opts.ServerName = DefaultServerName
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	creds := credentials.NewTLS(verifyingConfig(opts.ServerName, opts.Roots))
	dial := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(bearer{opts.Token}),
	}, opts.DialOptions...)
	conn, err := grpc.NewClient(opts.Address, dial...)
	if err != nil {
		return nil, fmt.Errorf("istioca: %s: %w", opts.Address, err)
	}
	return &Client{opts: opts, conn: conn, ca: pb.NewIstioCertificateServiceClient(conn)}, nil
}

// verifyingConfig verifies the server against the roots of the moment
// rather than a pool fixed at dial time: a rotated mesh root is used by
// the next handshake.
func verifyingConfig(serverName string, roots func() *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		// Verified below, against roots(), instead of a static RootCAs.
		InsecureSkipVerify: true, //nolint:gosec // VerifyConnection verifies the chain and the name
		VerifyConnection: func(cs tls.ConnectionState) error {
			pool := roots()
			if pool == nil {
				return errors.New("no mesh root certificate to verify istiod with yet")
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("istiod presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: pool, Intermediates: inter, DNSName: serverName,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				return fmt.Errorf("istiod's certificate: %w", err)
			}
			return nil
		},
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Request is one certificate signing request.
type Request struct {
	// CSR is the PEM certificate request (NewCSR makes one). Required.
	CSR []byte
	// TTL is the lifetime asked for; zero asks for the CA's default.
	TTL time.Duration
	// ImpersonatedIdentity, when set, asks for a certificate for this
	// SPIFFE id instead of the caller's (node agents; see
	// MetadataImpersonatedIdentity).
	ImpersonatedIdentity string
	// Metadata are further string fields of the request's metadata
	// (MetadataCertSigner, ...).
	Metadata map[string]string
}

// Certificate is what the CA issued.
type Certificate struct {
	// Leaf is the issued certificate, parsed.
	Leaf *x509.Certificate
	// ChainPEM is the leaf followed by any intermediates, PEM: what a TLS
	// server presents.
	ChainPEM []byte
	// RootPEM is the root the chain ends at (the CA sends it last).
	RootPEM []byte
}

// Identities are the certificate's SPIFFE ids (its URI SANs).
func (c *Certificate) Identities() []string { return URIs(c.Leaf) }

// CreateCertificate asks the CA to sign req.CSR. The issued certificate
// must be for the CSR's key.
func (c *Client) CreateCertificate(ctx context.Context, req Request) (*Certificate, error) {
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	meta := map[string]any{}
	for k, v := range req.Metadata {
		meta[k] = v
	}
	if req.ImpersonatedIdentity != "" {
		meta[MetadataImpersonatedIdentity] = req.ImpersonatedIdentity
	}
	md, err := structpb.NewStruct(meta)
	if err != nil {
		return nil, fmt.Errorf("istioca: request metadata: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if c.opts.ClusterID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "ClusterID", c.opts.ClusterID)
	}
	resp, err := c.ca.CreateCertificate(ctx, &pb.IstioCertificateRequest{
		Csr:              string(req.CSR),
		ValidityDuration: int64(req.TTL / time.Second),
		Metadata:         md,
	})
	if err != nil {
		return nil, explain(c.opts.Address, req.ImpersonatedIdentity, err)
	}
	return parseResponse(resp.GetCertChain(), csr.PublicKey)
}

// explain turns the CA's answer into what to do about it.
func explain(addr, impersonated string, err error) error {
	switch status.Code(err) {
	case codes.Unauthenticated:
		if impersonated != "" && strings.Contains(status.Convert(err).Message(), "impersonation") {
			// istiod answers every refused impersonation alike and logs why
			// (security/pkg/server/ca/server.go, CreateCertificate).
			return fmt.Errorf("istioca: %s refused a certificate for %s on behalf of another identity (%v): istiod signs one only when the caller's ServiceAccount is in its CA_TRUSTED_NODE_ACCOUNTS, the request names istiod's cluster id (ClusterID), the token is bound to the caller's pod, and a pod running as %s is on that pod's node; istiod's log says which", addr, impersonated, status.Convert(err).Message(), impersonated)
		}
		return fmt.Errorf("istioca: %s refused the request (%v): the ServiceAccount token must be a projected token with audience istio-ca, not expired, for a ServiceAccount that exists", addr, status.Convert(err).Message())
	case codes.Unavailable:
		return fmt.Errorf("istioca: cannot reach the CA at %s: %v", addr, status.Convert(err).Message())
	}
	return fmt.Errorf("istioca: %s: %w", addr, err)
}

// parseResponse checks and splits the CA's chain: leaf first, root last
// (IstioCertificateResponse.cert_chain, one certificate per element).
func parseResponse(chain []string, want crypto.PublicKey) (*Certificate, error) {
	if len(chain) < 2 {
		return nil, fmt.Errorf("istioca: the CA answered %d certificates; want the leaf and the root at least", len(chain))
	}
	var certs []*x509.Certificate
	for i, p := range chain {
		rest := []byte(p)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("istioca: certificate %d of the CA's answer: %w", i, err)
			}
			certs = append(certs, cert)
		}
	}
	if len(certs) < 2 {
		return nil, errors.New("istioca: the CA's answer holds fewer than two certificates")
	}
	leaf := certs[0]
	if pk, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(want) {
		return nil, errors.New("istioca: the CA issued a certificate for another key than the CSR's")
	}
	out := &Certificate{Leaf: leaf}
	for _, c := range certs[:len(certs)-1] {
		out.ChainPEM = append(out.ChainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	out.RootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[len(certs)-1].Raw})
	return out, nil
}

// URIs returns a certificate's SPIFFE ids: its URI SANs with the spiffe
// scheme.
func URIs(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, u := range c.URIs {
		if u.Scheme == "spiffe" {
			out = append(out, u.String())
		}
	}
	return out
}

// bearer sends the token the way istio-agent does
// (caclient.DefaultTokenProvider): "authorization: Bearer <token>".
type bearer struct {
	token func(context.Context) (string, error)
}

func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := b.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("istioca: ServiceAccount token: %w", err)
	}
	if tok == "" {
		return nil, errors.New("istioca: the ServiceAccount token is empty")
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity is true: the token never travels in plaintext.
func (bearer) RequireTransportSecurity() bool { return true }

// FileToken reads the token from a file on every request: kubelet
// rewrites a projected token before it expires, so the file's current
// content is always the one to send.
func FileToken(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading the token file: %w (mount a projected ServiceAccount token with audience istio-ca there)", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
}
