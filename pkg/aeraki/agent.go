package aeraki

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/aeraki-ng/aeraki/internal/agent"
	"github.com/aeraki-ng/aeraki/internal/identity"
	"github.com/aeraki-ng/aeraki/internal/istioca"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Defaults of aeraki agent: where Istio's own agents find the same things.
const (
	// defaultCAAddress is istiod's CA in the default install.
	defaultCAAddress = "istiod.istio-system.svc:15012"
	// defaultRootFile is where Istio's injector mounts the
	// istio-ca-root-cert ConfigMap.
	defaultRootFile = "/var/run/secrets/istio/root-cert.pem"
)

// agentFlags are the flags of aeraki agent.
type agentFlags struct {
	mode           string
	caAddress      string
	caServerName   string
	caTokenFile    string
	caRootFile     string
	clusterID      string
	socket         string
	certTTL        time.Duration
	trustDomain    string
	serviceAccount string
	logFormat      string
	logLevel       string
}

func agentCommand(e *env) *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent [--mode waypoint|ztunnel]",
		Short: "Run the certificate agent beside an Envoy aeraki serves: certificates from Istio's CA over SDS on a Unix socket",
		Long: `agent gets certificates from Istio's CA (istiod's 15012) with the pod's projected
ServiceAccount token (audience istio-ca), renews them at half their lifetime, and serves
them to Envoy over SDS on a Unix socket (--sds-socket), under the names aeraki's config
asks for: the identity's SPIFFE id, and ROOTCA (the mesh root, --ca-root-cert-file).

--mode waypoint (the default; what the aeraki-waypoint Deployment runs): the pod's own
identity only; a request for any other name is not answered (istio-agent would answer it
with the pod's identity).

--mode ztunnel (beside an Envoy-based ztunnel): every identity of the trust domain Envoy
asks for, requested with ImpersonatedIdentity. istiod signs those only for a caller whose
ServiceAccount is in its CA_TRUSTED_NODE_ACCOUNTS (namespace/name, comma-separated), with
a token bound to its pod (kubelet's projected tokens are), and only for identities with a
pod on the caller's node. See docs/security.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return e.agent(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", string(agent.ModeWaypoint), "waypoint (the pod's identity) or ztunnel (every local pod's identity, impersonated)")
	fl.StringVar(&f.caAddress, "ca-address", defaultCAAddress, "Istio's CA: istiod's host:15012")
	fl.StringVar(&f.caServerName, "ca-server-name", "", "DNS name istiod's certificate must carry (default the host of --ca-address, istiod.istio-system.svc for an IP)")
	fl.StringVar(&f.caTokenFile, "ca-token-file", defaultTokenFile, "projected ServiceAccount token (audience istio-ca) sent to Istio's CA")
	fl.StringVar(&f.caRootFile, "ca-root-cert-file", defaultRootFile, "mesh root (the istio-ca-root-cert ConfigMap's root-cert.pem): verifies istiod, and is served as ROOTCA")
	fl.StringVar(&f.clusterID, "cluster-id", "Kubernetes", "the cluster id sent to the CA (istio-agent's CLUSTER_ID; istiod's default is Kubernetes): istiod's node authorizer, which ztunnel mode needs, is chosen by it")
	fl.StringVar(&f.socket, "sds-socket", agent.DefaultSocket, "Unix socket SDS is served on (an emptyDir shared with Envoy)")
	fl.DurationVar(&f.certTTL, "cert-ttl", 0, "lifetime asked of Istio's CA (default: istiod's DEFAULT_WORKLOAD_CERT_TTL, 24h); renewed at half of it")
	fl.StringVar(&f.trustDomain, "trust-domain", "cluster.local", "SPIFFE trust domain; in ztunnel mode only its identities are asked for")
	fl.StringVar(&f.serviceAccount, "service-account", "", "the pod's ServiceAccount as namespace/name (default: read from the token)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: error, info, debug or trace")
	return cmd
}

func (e *env) agent(ctx context.Context, f agentFlags) error {
	log, err := newLogger(e.stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	sec := securityFlags{caTokenFile: f.caTokenFile, serviceAccount: f.serviceAccount}
	id, err := sec.identity(model.Options{TrustDomain: f.trustDomain})
	if err != nil {
		return err
	}
	roots, err := identity.NewFileRoots(f.caRootFile, 0, log.WithName("mesh-root"))
	if err != nil {
		return fmt.Errorf("--ca-root-cert-file: %w (mount the istio-ca-root-cert ConfigMap there)", err)
	}
	ca, err := istioca.New(istioca.Options{Address: f.caAddress, ServerName: f.caServerName, Roots: roots.Pool,
		Token: istioca.FileToken(f.caTokenFile), ClusterID: f.clusterID})
	if err != nil {
		return fmt.Errorf("--ca-address: %w", err)
	}
	defer ca.Close()
	a, err := agent.New(agent.Options{Mode: agent.Mode(f.mode), CA: ca, Roots: roots, Identity: id, TrustDomain: f.trustDomain,
		Socket: f.socket, TTL: f.certTTL, Log: log.WithName("agent")})
	if err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { _ = roots.Run(ctx) })
	err = a.Run(ctx)
	stop()
	wg.Wait()
	return err
}
