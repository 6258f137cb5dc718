package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/aeraki-ng/aeraki/internal/istioca"
)

// DefaultRenewRatio is the part of a certificate's lifetime after which
// it is renewed: istio-agent's SECRET_GRACE_PERIOD_RATIO.
const DefaultRenewRatio = 0.5

// Signer issues certificates; *istioca.Client is one.
type Signer interface {
	CreateCertificate(ctx context.Context, req istioca.Request) (*istioca.Certificate, error)
}

// RotatorOptions configure a Rotator.
type RotatorOptions struct {
	// CA signs the certificates. Required.
	CA Signer
	// Identity is the SPIFFE id written into the CSR. Istio's CA ignores
	// it (it certifies the token's ServiceAccount); CAs that check CSRs
	// against the caller want it.
	Identity string
	// Impersonate asks the CA for a certificate for Identity rather than
	// for the caller's own ServiceAccount (istioca.Request's
	// ImpersonatedIdentity): what a node agent does for the pods on its
	// node. istiod grants it only to CA_TRUSTED_NODE_ACCOUNTS, for
	// identities with a pod on the caller's node.
	Impersonate bool
	// OnRenew, when set, is called after each new certificate is in (the
	// first one included), for servers that push it (SDS).
	OnRenew func(*tls.Certificate)
	// TTL is the lifetime asked for; zero asks for the CA's default.
	TTL time.Duration
	// RenewRatio is the part of the lifetime after which the certificate
	// is renewed; DefaultRenewRatio when zero.
	RenewRatio float64
	// Log receives structured logs; never the key or the token.
	Log logr.Logger
}

// Rotator keeps a certificate from a CA fresh.
type Rotator struct {
	opts RotatorOptions

	mu      sync.RWMutex
	current *tls.Certificate
	root    []byte
	lastErr error
	ready   chan struct{}
	once    sync.Once
}

// NewRotator returns a Rotator; Run gets the first certificate.
func NewRotator(opts RotatorOptions) (*Rotator, error) {
	if opts.CA == nil {
		return nil, errors.New("identity: a CA is required")
	}
	if opts.RenewRatio <= 0 || opts.RenewRatio >= 1 {
		opts.RenewRatio = DefaultRenewRatio
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	return &Rotator{opts: opts, ready: make(chan struct{})}, nil
}

// Current is the certificate of the moment, nil before the first.
func (r *Rotator) Current() *tls.Certificate {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// Ready is closed once the first certificate is in.
func (r *Rotator) Ready() <-chan struct{} { return r.ready }

// RootPEM is the root the CA sent with the current certificate.
func (r *Rotator) RootPEM() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.root
}

// Err is why the last request to the CA failed, nil when it succeeded:
// what a node agent reports for an identity the CA refuses.
func (r *Rotator) Err() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lastErr
}

// Run gets a certificate, then renews it at RenewRatio of its lifetime,
// until ctx ends. A failed request is retried with backoff (1s doubling
// to 30s), never later than the current certificate's expiry. It returns
// nil when ctx ends.
func (r *Rotator) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		next, err := r.renew(ctx)
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		if err != nil {
			wait := backoff
			backoff = min(2*backoff, 30*time.Second)
			if cur := r.Current(); cur != nil && cur.Leaf != nil {
				if left := time.Until(cur.Leaf.NotAfter); left < wait {
					wait = max(left, 100*time.Millisecond)
				}
			}
			r.opts.Log.Error(err, "cannot get a certificate from the CA; retrying", "in", wait, "identity", r.opts.Identity)
			next = time.Now().Add(wait)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// renew gets one certificate and returns when to renew it.
func (r *Rotator) renew(ctx context.Context) (time.Time, error) {
	key, err := istioca.GenerateKey()
	if err != nil {
		return time.Time{}, err
	}
	csr, err := istioca.NewCSR(key, r.opts.Identity)
	if err != nil {
		return time.Time{}, err
	}
	asked := time.Now()
	req := istioca.Request{CSR: csr, TTL: r.opts.TTL}
	if r.opts.Impersonate {
		req.ImpersonatedIdentity = r.opts.Identity
	}
	cert, err := r.opts.CA.CreateCertificate(ctx, req)
	if err != nil {
		return time.Time{}, err
	}
	if r.opts.Impersonate && !slices.Contains(cert.Identities(), r.opts.Identity) {
		return time.Time{}, fmt.Errorf("identity: asked the CA for %s, it issued a certificate for %v", r.opts.Identity, cert.Identities())
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return time.Time{}, err
	}
	tc, err := tls.X509KeyPair(cert.ChainPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if err != nil {
		return time.Time{}, fmt.Errorf("identity: the CA's certificate does not go with the key: %w", err)
	}
	r.mu.Lock()
	r.current, r.root = &tc, cert.RootPEM
	r.mu.Unlock()
	r.once.Do(func() { close(r.ready) })
	if r.opts.OnRenew != nil {
		r.opts.OnRenew(&tc)
	}
	// From when it was asked for, not from NotBefore: Istio's CA backdates
	// NotBefore by two minutes for clock skew.
	life := cert.Leaf.NotAfter.Sub(asked)
	renewAt := asked.Add(time.Duration(float64(life) * r.opts.RenewRatio))
	r.opts.Log.Info("certificate from the CA", "identities", cert.Identities(), "serial", cert.Leaf.SerialNumber.String(),
		"notAfter", cert.Leaf.NotAfter, "renewAt", renewAt)
	return renewAt, nil
}
