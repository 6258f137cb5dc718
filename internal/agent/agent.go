package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"

	"github.com/aeraki-ng/aeraki/internal/identity"
)

// Mode is what the agent serves certificates for.
type Mode string

// The agent's modes (see the package doc).
const (
	// ModeWaypoint serves the pod's own identity only.
	ModeWaypoint Mode = "waypoint"
	// ModeZtunnel serves every identity of the trust domain Envoy asks for,
	// requested from the CA with ImpersonatedIdentity.
	ModeZtunnel Mode = "ztunnel"
)

// RootCAName is the SDS name of the mesh's trust bundle (plugins/hbone's
// SecretRootCA).
const RootCAName = "ROOTCA"

// DefaultSocket is where the agent listens, and where the bootstraps
// aeraki generates point Envoy's sds-grpc cluster.
const DefaultSocket = "/var/run/aeraki/sds/socket"

// Options configure an Agent.
type Options struct {
	// Mode is ModeWaypoint or ModeZtunnel. Required.
	Mode Mode
	// CA signs the certificates (an *istioca.Client). Required.
	CA identity.Signer
	// Roots is the mesh root served as ROOTCA (the file the CA client
	// verifies istiod with). Required.
	Roots identity.Roots
	// Identity is the pod's own SPIFFE id: the one identity served in
	// ModeWaypoint; in ModeZtunnel only logged. Required.
	Identity string
	// TrustDomain limits the names asked for in ModeZtunnel to
	// spiffe://<TrustDomain>/ns/<ns>/sa/<sa>. Required in ModeZtunnel.
	TrustDomain string
	// Socket is the Unix socket path SDS is served on; DefaultSocket when
	// empty. A stale socket file there is replaced.
	Socket string
	// TTL is the certificate lifetime asked of the CA; zero asks for its
	// default.
	TTL time.Duration
	// RootsInterval is how often Roots is read again for changes; 5s when
	// zero.
	RootsInterval time.Duration
	// Log receives structured logs; never keys or tokens.
	Log logr.Logger
}

// Agent serves certificates from Istio's CA to Envoy over SDS.
type Agent struct {
	opts  Options
	cache *cachev3.LinearCache

	mu       sync.Mutex
	ctx      context.Context // Run's; nil before Run
	rotators map[string]*identity.Rotator
	refused  map[string]bool // names not served, logged once
	pending  []string        // names asked for before Run
	wg       sync.WaitGroup
}

// New checks opts and returns an Agent; Run serves.
func New(opts Options) (*Agent, error) {
	switch opts.Mode {
	case ModeWaypoint, ModeZtunnel:
	default:
		return nil, fmt.Errorf("agent: mode %q: use %s or %s", opts.Mode, ModeWaypoint, ModeZtunnel)
	}
	if opts.CA == nil || opts.Roots == nil {
		return nil, errors.New("agent: a CA and the mesh root are required")
	}
	if !strings.HasPrefix(opts.Identity, "spiffe://") {
		return nil, fmt.Errorf("agent: identity %q is not a SPIFFE id", opts.Identity)
	}
	if opts.Mode == ModeZtunnel && opts.TrustDomain == "" {
		return nil, errors.New("agent: ztunnel mode needs the trust domain")
	}
	if opts.Socket == "" {
		opts.Socket = DefaultSocket
	}
	if opts.RootsInterval <= 0 {
		opts.RootsInterval = 5 * time.Second
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	return &Agent{opts: opts, cache: cachev3.NewLinearCache(resourcev3.SecretType),
		rotators: map[string]*identity.Rotator{}, refused: map[string]bool{}}, nil
}

// Run listens on the socket and serves until ctx ends; it removes the
// socket when it returns. In ModeWaypoint the pod's certificate is
// requested at once; in ModeZtunnel each identity when Envoy first asks
// for it.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(a.opts.Socket), 0o750); err != nil {
		return fmt.Errorf("agent: socket directory: %w", err)
	}
	if err := os.Remove(a.opts.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("agent: removing the stale socket %s: %w", a.opts.Socket, err)
	}
	lis, err := net.Listen("unix", a.opts.Socket)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer os.Remove(a.opts.Socket)
	// Envoy may run as another user than the agent; the directory (an
	// emptyDir shared by the two containers only) is the boundary.
	if err := os.Chmod(a.opts.Socket, 0o666); err != nil {
		lis.Close()
		return fmt.Errorf("agent: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.ctx = ctx
	pending := a.pending
	a.pending = nil
	a.mu.Unlock()
	if a.opts.Mode == ModeWaypoint {
		a.want(a.opts.Identity)
	}
	for _, n := range pending {
		a.want(n)
	}
	a.refreshRoots()

	cb := serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, r *discoveryv3.DiscoveryRequest) error {
			a.asked(r.GetResourceNames())
			return nil
		},
		StreamDeltaRequestFunc: func(_ int64, r *discoveryv3.DeltaDiscoveryRequest) error {
			a.asked(r.GetResourceNamesSubscribe())
			return nil
		},
		FetchRequestFunc: func(_ context.Context, r *discoveryv3.DiscoveryRequest) error {
			a.asked(r.GetResourceNames())
			return nil
		},
	}
	gs := grpc.NewServer()
	secretv3.RegisterSecretDiscoveryServiceServer(gs, serverv3.NewServer(ctx, a.cache, cb))
	a.opts.Log.Info("serving SDS", "socket", a.opts.Socket, "mode", a.opts.Mode, "identity", a.opts.Identity)

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	t := time.NewTicker(a.opts.RootsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			gs.Stop()
			<-errc
			a.wg.Wait()
			return nil
		case err := <-errc:
			cancel()
			a.wg.Wait()
			return fmt.Errorf("agent: SDS server: %w", err)
		case <-t.C:
			a.refreshRoots()
		}
	}
}

// asked handles the names of an SDS request.
func (a *Agent) asked(names []string) {
	for _, n := range names {
		if n == RootCAName {
			continue
		}
		a.want(n)
	}
}

// want starts keeping the certificate of name fresh when the mode allows
// it, or logs once why it is not served.
func (a *Agent) want(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.rotators[name]; ok || a.refused[name] {
		return
	}
	if why := a.refusal(name); why != "" {
		a.refused[name] = true
		a.opts.Log.Info("not serving a secret Envoy asked for", "name", name, "reason", why)
		return
	}
	if a.ctx == nil {
		a.pending = append(a.pending, name)
		return
	}
	r, err := identity.NewRotator(identity.RotatorOptions{
		CA: a.opts.CA, Identity: name, TTL: a.opts.TTL,
		Impersonate: a.opts.Mode == ModeZtunnel && name != a.opts.Identity,
		OnRenew:     func(c *tls.Certificate) { a.publish(name, c) },
		Log:         a.opts.Log.WithValues("secret", name),
	})
	if err != nil {
		a.opts.Log.Error(err, "cannot keep a certificate", "name", name)
		return
	}
	a.rotators[name] = r
	ctx := a.ctx
	a.wg.Go(func() { _ = r.Run(ctx) })
}

// refusal is why name is not served in this mode, "" when it is.
func (a *Agent) refusal(name string) string {
	if a.opts.Mode == ModeWaypoint {
		if name != a.opts.Identity {
			return "a waypoint's agent serves only the pod's own identity " + a.opts.Identity
		}
		return ""
	}
	rest, ok := strings.CutPrefix(name, "spiffe://"+a.opts.TrustDomain+"/ns/")
	ns, sa, ok2 := strings.Cut(rest, "/sa/")
	if !ok || !ok2 || ns == "" || sa == "" || strings.Contains(sa, "/") {
		return "not a SPIFFE id of trust domain " + a.opts.TrustDomain + " (spiffe://" + a.opts.TrustDomain + "/ns/<namespace>/sa/<service-account>)"
	}
	return ""
}

// publish puts a renewed certificate into the SDS cache.
func (a *Agent) publish(name string, c *tls.Certificate) {
	s, err := tlsSecret(name, c)
	if err != nil {
		a.opts.Log.Error(err, "cannot serve the certificate", "name", name)
		return
	}
	if err := a.cache.UpdateResource(name, s); err != nil {
		a.opts.Log.Error(err, "cannot serve the certificate", "name", name)
	}
}

// refreshRoots serves the mesh root as ROOTCA when it changed.
func (a *Agent) refreshRoots() {
	p := a.opts.Roots.PEM()
	if len(p) == 0 {
		return
	}
	if cur, ok := a.cache.GetResources()[RootCAName].(*tlsv3.Secret); ok {
		if string(cur.GetValidationContext().GetTrustedCa().GetInlineBytes()) == string(p) {
			return
		}
	}
	_ = a.cache.UpdateResource(RootCAName, &tlsv3.Secret{Name: RootCAName, Type: &tlsv3.Secret_ValidationContext{
		ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: inline(p)},
	}})
	a.opts.Log.Info("serving the mesh root", "name", RootCAName)
}

// IdentityState is what the agent knows of one identity.
type IdentityState struct {
	// Name is the SPIFFE id (the SDS name).
	Name string
	// Certificate is the one served, nil before the first.
	Certificate *x509.Certificate
	// Err is why the CA refused the last request, nil when it did not.
	Err error
}

// Identities are the identities the agent keeps, sorted by name.
func (a *Agent) Identities() []IdentityState {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]IdentityState, 0, len(a.rotators))
	for n, r := range a.rotators {
		st := IdentityState{Name: n, Err: r.Err()}
		if c := r.Current(); c != nil {
			st.Certificate = c.Leaf
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tlsSecret is the SDS form of a certificate: the chain and the key
// inline, PEM.
func tlsSecret(name string, c *tls.Certificate) (*tlsv3.Secret, error) {
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	k, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("agent: the key of %s is a %T, want ECDSA", name, c.PrivateKey)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inline(chain),
		PrivateKey:       inline(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
	}}}, nil
}

func inline(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}
