package aeraki

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aeraki-ng/aeraki/internal/identity"
	"github.com/aeraki-ng/aeraki/internal/istioca"
	"github.com/aeraki-ng/aeraki/internal/server"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Ports and files of aeraki serve's TLS address (docs/security.md).
const (
	tlsPort = "15012"
	// defaultTokenFile is where Istio's injector mounts the projected
	// token (audience istio-ca) istio-agent calls the CA with; aeraki's
	// Deployment mounts its own there.
	defaultTokenFile = "/var/run/secrets/tokens/istio-token"
	// off turns an address off.
	off = "off"
)

// securityFlags are the flags of aeraki serve about TLS, authorization
// and limits.
type securityFlags struct {
	plaintextAddress string
	tlsAddress       string
	certDir          string
	caAddress        string
	caServerName     string
	caTokenFile      string
	caRootFile       string
	certTTL          time.Duration
	serviceAccount   string

	insecureProxies      bool
	insecureCredentials  bool
	mcpIdentities        []string
	maxStreams           int
	maxStreamsPerClient  int
	idleGrace            time.Duration
	deprecatedXDSAddress string
}

func (f *securityFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.plaintextAddress, "plaintext-address", "", "address of the plaintext xDS/MCP gRPC server, or \"off\" (default 127.0.0.1:"+xdsPort+" with --config-dir, :"+xdsPort+" in Kubernetes mode)")
	fl.StringVar(&f.deprecatedXDSAddress, "xds-address", "", "old name of --plaintext-address")
	_ = fl.MarkDeprecated("xds-address", "use --plaintext-address")
	fl.StringVar(&f.tlsAddress, "tls-address", "", "address of the TLS xDS/MCP gRPC server, or \"off\"; served when a certificate source is set (default 127.0.0.1:"+tlsPort+" with --config-dir, :"+tlsPort+" in Kubernetes mode)")
	fl.StringVar(&f.certDir, "tls-cert-dir", "", "serve this certificate on the TLS address: a mounted kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt; cert-manager's), reloaded on change; give it a DNS name istiod checks (docs/security.md)")
	fl.StringVar(&f.caAddress, "ca-address", "", "get aeraki's certificate from Istio's CA at this address (istiod's host:15012, e.g. istiod.istio-system.svc:15012), renewed before it expires")
	fl.StringVar(&f.caServerName, "ca-server-name", "", "DNS name istiod's certificate must carry (default the host of --ca-address, istiod.istio-system.svc for an IP)")
	fl.StringVar(&f.caTokenFile, "ca-token-file", defaultTokenFile, "projected ServiceAccount token (audience istio-ca) sent to Istio's CA")
	fl.StringVar(&f.caRootFile, "ca-root-cert-file", "", "mesh root certificates (PEM) to verify istiod and client certificates with (default in Kubernetes mode: the istio-ca-root-cert ConfigMap of aeraki's namespace)")
	fl.DurationVar(&f.certTTL, "cert-ttl", 0, "lifetime asked of Istio's CA for aeraki's certificate (default: istiod's DEFAULT_WORKLOAD_CERT_TTL, 24h); renewed at half of it")
	fl.StringVar(&f.serviceAccount, "service-account", "", "aeraki's ServiceAccount as namespace/name, for the identity in its certificate request (default: read from the token)")
	fl.BoolVar(&f.insecureProxies, "insecure-plaintext-proxies", false, "serve proxy config (waypoints, ztunnels, proxyless clients) on the plaintext address to any client, without authorization")
	fl.BoolVar(&f.insecureCredentials, "insecure-plaintext-credentials", false, "let config holding credentials (Redis passwords) be served on the plaintext address")
	fl.StringSliceVar(&f.mcpIdentities, "mcp-allowed-identities", nil, "serve MCP on the TLS address only to clients with these SPIFFE ids (default: any client; istiod's MCP client presents no certificate)")
	fl.IntVar(&f.maxStreams, "max-streams", server.DefaultMaxStreams, "most xDS streams open at once (-1: no limit)")
	fl.IntVar(&f.maxStreamsPerClient, "max-streams-per-client", server.DefaultMaxStreamsPerClient, "most xDS streams one client address may have open (-1: no limit)")
	fl.DurationVar(&f.idleGrace, "stream-idle-grace", server.DefaultIdleGrace, "how long a proxy's cache entry outlives its last stream")
}

// runner is something serve runs beside the server.
type runner interface {
	Run(ctx context.Context) error
}

// security is what the flags set up: the server's options and what must
// run beside it.
type security struct {
	opts    server.Options // the TLS, authorization and limit fields only
	runners []runner
}

// setup builds the certificate sources. kube is nil in --config-dir mode.
func (f *securityFlags) setup(local bool, mesh model.Options, kube *rest.Config, log logr.Logger) (*security, error) {
	s := &security{}
	plain := f.plaintextAddress
	if plain == "" {
		plain = f.deprecatedXDSAddress
	}
	if plain != off {
		s.opts.XDSAddress = addressOr(plain, local, xdsPort)
	}
	s.opts.Authorization = server.Authorization{InsecurePlaintextProxies: f.insecureProxies,
		InsecurePlaintextCredentials: f.insecureCredentials, MCPIdentities: f.mcpIdentities}
	s.opts.Limits = server.Limits{MaxStreams: f.maxStreams, MaxStreamsPerClient: f.maxStreamsPerClient, IdleGrace: f.idleGrace}
	for _, id := range f.mcpIdentities {
		if !strings.HasPrefix(id, "spiffe://") {
			return nil, fmt.Errorf("--mcp-allowed-identities %q: write SPIFFE ids, spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", id)
		}
	}

	var certs []identity.Certificate
	var roots []identity.Roots
	var secretCert identity.Certificate
	if f.certDir != "" {
		d, err := identity.NewDir(identity.DirOptions{Dir: f.certDir, Log: log.WithName("tls-cert-dir")})
		if err != nil {
			return nil, fmt.Errorf("--tls-cert-dir: %w", err)
		}
		secretCert = d
		roots = append(roots, d)
		s.runners = append(s.runners, d)
	}
	meshRoots, err := f.meshRoots(kube, log)
	if err != nil {
		return nil, err
	}
	if meshRoots != nil {
		roots = append(roots, meshRoots)
		s.runners = append(s.runners, meshRoots)
	}
	if f.caAddress != "" {
		if meshRoots == nil {
			return nil, errors.New("--ca-address: the mesh root is needed to verify istiod: pass --ca-root-cert-file (the istio-ca-root-cert ConfigMap's root-cert.pem), or run in Kubernetes mode where aeraki reads that ConfigMap")
		}
		id, err := f.identity(mesh)
		if err != nil {
			return nil, err
		}
		ca, err := istioca.New(istioca.Options{Address: f.caAddress, ServerName: f.caServerName, Roots: meshRoots.Pool,
			Token: istioca.FileToken(f.caTokenFile)})
		if err != nil {
			return nil, fmt.Errorf("--ca-address: %w", err)
		}
		rot, err := identity.NewRotator(identity.RotatorOptions{CA: ca, Identity: id, TTL: f.certTTL, Log: log.WithName("istio-ca")})
		if err != nil {
			return nil, err
		}
		certs = append(certs, rot)
		s.runners = append(s.runners, rot)
	}
	// The mesh identity first: a client naming the Secret's DNS name
	// (istiod, with tlsSettings.sni) gets the Secret's certificate, the
	// others (proxies, which send no name and check the SPIFFE id) the
	// mesh identity once it is in. See identity.ServerConfig.
	if secretCert != nil {
		certs = append(certs, secretCert)
	}
	if f.tlsAddress == off || len(certs) == 0 {
		if f.tlsAddress != "" && f.tlsAddress != off {
			return nil, errors.New("--tls-address needs a certificate: pass --tls-cert-dir (a mounted Secret) or --ca-address (Istio's CA)")
		}
		if s.opts.XDSAddress == "" {
			return nil, errors.New("--plaintext-address=off and no TLS address: aeraki would serve nothing")
		}
		return s, nil
	}
	s.opts.SecureXDSAddress = addressOr(f.tlsAddress, local, tlsPort)
	var clientRoots identity.Roots
	if len(roots) > 0 {
		clientRoots = identity.Multi(roots...)
	}
	// /ready does not wait for a certificate from Istio's CA: istiod
	// serves its CA only once its config sources, aeraki among them, have
	// synced (pilot/pkg/bootstrap/server.go, Start), so waiting would
	// keep both from ever becoming ready.
	s.opts.TLS = identity.ServerConfig(certs, clientRoots)
	return s, nil
}

// meshRoots is the mesh root: the file, else in Kubernetes mode the
// istio-ca-root-cert ConfigMap of aeraki's namespace, else nil.
func (f *securityFlags) meshRoots(kube *rest.Config, log logr.Logger) (interface {
	identity.Roots
	runner
}, error) {
	if f.caRootFile != "" {
		r, err := identity.NewFileRoots(f.caRootFile, 0, log.WithName("mesh-root"))
		if err != nil {
			return nil, fmt.Errorf("--ca-root-cert-file: %w", err)
		}
		return r, nil
	}
	if kube == nil || (f.caAddress == "" && f.certDir == "") {
		return nil, nil
	}
	cs, err := kubernetes.NewForConfig(kube)
	if err != nil {
		return nil, err
	}
	return identity.NewConfigMapRoots(cs, podNamespace(), log.WithName("mesh-root")), nil
}

// identity is the SPIFFE id aeraki asks a certificate for: the
// --service-account, else the token's ServiceAccount (read, not verified:
// the CA verifies it and certifies what it finds).
func (f *securityFlags) identity(mesh model.Options) (string, error) {
	sa := f.serviceAccount
	if sa == "" {
		b, err := os.ReadFile(f.caTokenFile)
		if err != nil {
			return "", fmt.Errorf("--ca-token-file: %w (mount a projected ServiceAccount token with audience istio-ca there)", err)
		}
		if sa, err = tokenServiceAccount(string(b)); err != nil {
			return "", fmt.Errorf("--ca-token-file %s: %w; pass --service-account namespace/name", f.caTokenFile, err)
		}
	}
	ns, name, ok := strings.Cut(sa, "/")
	if !ok || ns == "" || name == "" {
		return "", fmt.Errorf("--service-account %q: write namespace/name", sa)
	}
	return model.SPIFFEID(mesh.TrustDomain, ns, name), nil
}

// tokenServiceAccount reads "namespace/name" from a ServiceAccount token's
// subject (system:serviceaccount:<ns>:<name>).
func tokenServiceAccount(token string) (string, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return "", errors.New("the token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("the token's payload does not decode")
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", errors.New("the token's payload is not JSON")
	}
	rest, ok := strings.CutPrefix(claims.Sub, "system:serviceaccount:")
	ns, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || name == "" {
		return "", errors.New("the token's subject is not a ServiceAccount")
	}
	return ns + "/" + name, nil
}

// podNamespace is aeraki's namespace: $POD_NAMESPACE, else istio-system.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "istio-system"
}
