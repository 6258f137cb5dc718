package plugin

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// ProxyKind is a kind of proxy aeraki configures directly over ADS,
// rather than through istiod.
type ProxyKind string

const (
	// ProxyKindWaypoint is an Envoy waypoint: its node id names the Gateway.
	ProxyKindWaypoint ProxyKind = "waypoint"
	// ProxyKindZtunnel is an Envoy-based ztunnel: its node id names the Kubernetes node.
	ProxyKindZtunnel ProxyKind = "ztunnel"
	// ProxyKindProxyless is a proxyless gRPC client (grpc-go's xDS resolver).
	ProxyKindProxyless ProxyKind = "proxyless"
)

// Proxy is the complete config of one proxy served over ADS. Every
// resource passes the validation gate before it is served; names must be
// unique within their type.
type Proxy struct {
	// ID identifies the proxy across snapshots: "waypoint/<ns>/<name>",
	// "ztunnel/<node>", "proxyless".
	ID string
	// Kind is the kind of proxy.
	Kind ProxyKind
	// Listeners, Routes, Clusters, Endpoints and Secrets are the LDS, RDS,
	// CDS, EDS and SDS resources.
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// ProxyBuilder is implemented by plugins that own whole proxies rather
// than ports: the HBONE plugin builds every listener and cluster of
// waypoints and ztunnels, and asks the protocol plugins, through
// ProxyContext.L7, for the L7 chain of each service port.
type ProxyBuilder interface {
	// ProxyIDs lists the proxies the plugin builds in this snapshot (one
	// per waypoint Gateway, one per node with captured pods, ...).
	ProxyIDs(view *model.View) []string
	// MatchNode maps a connecting xDS node to one of the plugin's proxy
	// ids, from its node id and metadata; ok is false for nodes that are
	// not the plugin's.
	MatchNode(node *corev3.Node) (id string, ok bool)
	// BuildProxy builds the complete config of one proxy. Lookups through
	// ctx.Model are recorded: the proxy is rebuilt only when they change.
	BuildProxy(ctx *ProxyContext, id string) (*Proxy, error)
}

// L7Chain is a protocol plugin's filter chain for one service port, as a
// ProxyBuilder receives it.
type L7Chain struct {
	// Plugin is the protocol plugin that built it.
	Plugin string
	// Filters are the network filters, terminal last. Empty when the
	// plugin failed and the port must fail closed.
	Filters []*listenerv3.Filter
	// RouteConfig is the plugin's route table, for tools that follow routes.
	RouteConfig proto.Message
	// FailedClosed is true when the plugin failed and the chain must
	// refuse connections.
	FailedClosed bool
	// PatchCluster is set when the plugin is a ClusterPatcher: it merges the
	// plugin's settings for subset ("" for the service) into cluster, the
	// ProxyBuilder's cluster for this port (or for one of its subsets),
	// before the proxy is validated. A subset the plugin was not asked
	// about gets the service-level settings. Nil when there is nothing to
	// merge.
	PatchCluster func(cluster *clusterv3.Cluster, subset string)
	// ByCaller are the chains of the caller classes the plugin tells apart
	// (CallerClassifier), in the order the proxy must try them, when the
	// request asked for them (L7Request.ByCaller). Filters, RouteConfig
	// and FailedClosed above are then the chain of every other caller.
	// Empty when one chain is exact for every caller.
	ByCaller []CallerChain
}

// CallerChain is a protocol plugin's chain for one caller class.
type CallerChain struct {
	// Caller is the class.
	Caller Caller
	// Filters, RouteConfig and FailedClosed are as in L7Chain.
	Filters      []*listenerv3.Filter
	RouteConfig  proto.Message
	FailedClosed bool
}

// L7Request asks for the L7 chain of one service port, for a proxy
// running a given build.
type L7Request struct {
	// Role is the role of the chain (RoleWaypoint for a waypoint's
	// per-service chain).
	Role Role
	// Service and Port are the service port.
	Service *model.Service
	Port    *model.Port
	// Waypoint names the waypoint Gateway for RoleWaypoint.
	Waypoint model.ObjectRef
	// Profile is the build of the proxy the chain goes into; the protocol
	// plugin builds for it and the chain passes the fidelity gate against
	// it. Nil means the role's build in ProxyContext.Targets.
	Profile *profile.Profile
	// ByCaller says the proxy can pick the port's chain by the caller's
	// identity (an aeraki-served waypoint: filter state
	// FilterStatePeerPrincipal in main_internal's filter_chain_matcher), so
	// plugins that are CallerClassifiers build one chain per caller class.
	ByCaller bool
}

// ProxyContext is what a ProxyBuilder gets to build one proxy.
type ProxyContext struct {
	// Model is the read-only mesh (tracked).
	Model *model.View
	// Targets are the builds of the proxies aeraki serves: build a proxy
	// of kind K for Targets.ForKind(K), and ask L7 for chains with that
	// profile. The core checks the proxy against it before serving it.
	Targets Targets
	// L7 asks the plugin that owns the port for its chain. ok is false
	// when no plugin owns the port: the caller proxies it at L4.
	L7 func(req L7Request) (chain L7Chain, ok bool)
	// Pieces is where Shared and Include get the pieces proxies share:
	// the translator's cache of the translation; NewProxyContext sets a
	// memo local to the context.
	Pieces SharedSource

	plugin   string
	reports  []model.Diagnostic
	reads    map[string]model.Revision
	included []string
	pieces   []*SharedPiece
	reported map[string]bool
}

// NewProxyContext is how the core (and tests) create a context for one
// BuildProxy call, with the default targets.
func NewProxyContext(pluginName string, view *model.View, l7 func(L7Request) (L7Chain, bool)) *ProxyContext {
	return &ProxyContext{Model: view, L7: l7, Targets: DefaultTargets(), Pieces: newMemoSource(pluginName, view), plugin: pluginName}
}

// Shared returns the Value of the piece under key, built by build at most
// once per translation however many proxies ask: the proxy depends on the
// piece's Revision, not on what the piece read. Use it for what many
// proxies compute alike from the whole mesh.
func (c *ProxyContext) Shared(key string, build SharedBuild) (any, error) {
	p, err := c.piece(key, build)
	if err != nil {
		return nil, err
	}
	if c.reads == nil {
		c.reads = map[string]model.Revision{}
	}
	c.reads[key] = p.Revision
	return p.Value, nil
}

// Include makes the resources of the piece under key part of the proxy,
// after the ones BuildProxy returns. The proxy does not depend on them:
// when the piece changes, the translator swaps its new resources in and
// the proxy's build does not run again. Names must not clash with the
// proxy's own resources or another included piece's.
func (c *ProxyContext) Include(key string, build SharedBuild) error {
	p, err := c.piece(key, build)
	if err != nil {
		return err
	}
	for _, k := range c.included {
		if k == key {
			return nil
		}
	}
	c.included = append(c.included, key)
	c.pieces = append(c.pieces, p)
	return nil
}

func (c *ProxyContext) piece(key string, build SharedBuild) (*SharedPiece, error) {
	p, diags, err := c.Pieces.Piece(key, build)
	if err != nil {
		// The failed build depends on the piece: once it builds, so
		// does the proxy. No Revision is "".
		if c.reads == nil {
			c.reads = map[string]model.Revision{}
		}
		c.reads[key] = ""
		return nil, fmt.Errorf("shared piece %s: %w", key, err)
	}
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	if !c.reported[key] {
		c.reported[key] = true
		c.reports = append(c.reports, diags...)
	}
	return p, nil
}

// SharedReads returns the pieces whose Value the build read, with the
// Revision of each it saw.
func (c *ProxyContext) SharedReads() map[string]model.Revision { return c.reads }

// Included returns the pieces the build included, in order; IncludedKeys
// their keys.
func (c *ProxyContext) Included() []*SharedPiece { return c.pieces }

// IncludedKeys returns the keys of the pieces the build included, in order.
func (c *ProxyContext) IncludedKeys() []string { return c.included }

// Plugin is the name of the plugin the context was made for.
func (c *ProxyContext) Plugin() string { return c.plugin }

// Report records a diagnostic about an object without failing the build.
func (c *ProxyContext) Report(d model.Diagnostic) {
	d.Plugin = c.plugin
	c.reports = append(c.reports, d)
}

// Reports returns what was reported, with (for a context made by
// NewProxyContext) the findings of the pieces the build used.
func (c *ProxyContext) Reports() []model.Diagnostic { return c.reports }
