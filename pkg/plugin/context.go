package plugin

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// BuildContext is everything a plugin gets to build one service port for
// one role. The core fills it; plugins read it and report through it.
type BuildContext struct {
	// Model is the read-only mesh. Lookups are recorded, so whatever the
	// plugin reads becomes a dependency of what it builds.
	Model *model.View
	// Role is the proxy and side being built.
	Role Role
	// Service is the service whose port is being built.
	Service *model.Service
	// Port is the service port; its Protocol is one the plugin claims.
	Port *model.Port
	// Waypoint names the waypoint Gateway when Role is RoleWaypoint.
	Waypoint model.ObjectRef
	// WaypointServedBy says, when Role is RoleWaypoint, who serves that
	// waypoint: aeraki (its whole config, over ADS) or istiod (a Gateway
	// of class istio-waypoint, patched with EnvoyFilters). Cluster names
	// differ (ClusterName follows it); the filter state holding the
	// caller's identity (FilterStatePeerPrincipal) is the same in both.
	WaypointServedBy model.WaypointServer
	// Profile is the build of the proxy the config is for (istio-proxy on
	// sidecars by default, upstream Envoy in the waypoints aeraki serves).
	// Choose filters by it: what the build lacks it rejects, and the
	// fidelity gate refuses it before it is served. Never nil.
	Profile *profile.Profile
	// MetaRouters are the valid MetaRouters for Service, oldest first.
	// Invalid ones were reported and left out before the build.
	MetaRouters []*metaprotocolv1alpha1.MetaRouter
	// RouteConfig is what the plugin's BuildRouteConfig returned for this
	// build, or nil.
	RouteConfig proto.Message
	// ByCaller is set when the proxy picks this port's chain by caller
	// class (L7Request.ByCaller). Caller is then the class being built, or
	// nil for the chain of every caller in none of the classes the plugin's
	// CallerClassifier returned; the plugin may rely on both (a caller
	// reaching the nil chain is none of those classes).
	ByCaller bool
	Caller   *Caller
	// Log is a logger with the plugin, service and role attached.
	Log logr.Logger
	// Packed is where Pack and NetworkFilter record the messages they
	// pack, set by the core to the Unpacked its checks of this build read
	// the plugin's Anys through (nil: they only pack).
	Packed *xds.Unpacked

	plugin  string
	reports []model.Diagnostic
	stat    statPrefixMemo
}

// statPrefixMemo remembers StatPrefix, which a build asks for several
// times (the route table's name, the filter's stat prefix, the default
// route's cluster), with what it was computed from: the fields are
// exported, so a change after the first call computes it again.
type statPrefixMemo struct {
	role        Role
	servedBy    model.WaypointServer
	host        string
	port, tport uint32
	value       string
}

// NewBuildContext is how the core (and the conformance kit) create a
// context for one build of a plugin. Its Profile is the role's default
// build (DefaultTargets); the core sets the one configured.
func NewBuildContext(pluginName string, view *model.View, role Role, svc *model.Service, port *model.Port) *BuildContext {
	return &BuildContext{Model: view, Role: role, Service: svc, Port: port, Profile: defaultForRole(role), plugin: pluginName, Log: logr.Discard()}
}

// Plugin is the name of the plugin the context was made for.
func (c *BuildContext) Plugin() string { return c.plugin }

// Pack packs m into an Any, as xds.MustAny does, and hands m itself to the
// core's checks of the build (the validation and fidelity gates, the
// secret check, the EnvoyFilter patch value), which then read it instead
// of decoding the Any's bytes again: a plugin packing its filters this
// way saves the core a decode of each per build.
//
// m must stay what the Any holds: do not modify it (nor anything in it)
// once packed, and leave no nil message in a list, a map or a oneof
// (xds.Unpacked.Pack). The conformance kit (plugintest) fails a plugin
// that does either.
func (c *BuildContext) Pack(m proto.Message) *anypb.Any { return c.Packed.Pack(m) }

// NetworkFilter is xds.NetworkFilter packing m with Pack: the network
// filter named name, configured by m.
func (c *BuildContext) NetworkFilter(name string, m proto.Message) *listenerv3.Filter {
	return c.Packed.NetworkFilter(name, m)
}

// Report records a diagnostic about an object (a MetaRouter field the
// data plane cannot carry, a route skipped). It does not fail the build.
// The plugin name is filled in.
func (c *BuildContext) Report(d model.Diagnostic) {
	d.Plugin = c.plugin
	c.reports = append(c.reports, d)
}

// Warnf reports a warning about obj: the object is programmed, but the
// named field is not. Use it instead of silently dropping what a user asked for.
func (c *BuildContext) Warnf(obj model.ObjectRef, field, reason, format string, args ...any) {
	c.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: obj, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// Reports returns what was reported during the build.
func (c *BuildContext) Reports() []model.Diagnostic { return c.reports }

// ClusterName is the name of the cluster that carries traffic for a host,
// port and subset in this role, as the proxy knows it:
// "outbound|<port>|<subset>|<host>" on sidecars,
// "inbound-vip|<port>|<subset>|<host>" on the waypoints aeraki serves,
// istiod's "inbound-vip|<port>|tcp/<subset>|<host>" (or
// "inbound-vip|<port>|tcp|<host>" without subset) on the waypoints istiod
// serves, and the local
// "inbound|<targetPort>||" on a sidecar's inbound side, where every route
// ends at the local workload.
func (c *BuildContext) ClusterName(host string, port uint32, subset string) string {
	if subset == "" && c.Service != nil && c.Port != nil && host == c.Service.Hostname && port == c.Port.Number {
		return c.StatPrefix()
	}
	return c.clusterName(host, port, subset)
}

func (c *BuildContext) clusterName(host string, port uint32, subset string) string {
	switch c.Role {
	case RoleSidecarInbound:
		return model.ClusterName("inbound", c.Port.TargetPort, "", "")
	case RoleWaypoint:
		if c.WaypointServedBy == model.ServedByIstiod {
			return istiodwaypoint.ClusterName(host, port, subset)
		}
		return model.ClusterName("inbound-vip", port, subset, host)
	default:
		return model.ClusterName("outbound", port, subset, host)
	}
}

// StatPrefix is a stat prefix that tells roles and services apart in
// Envoy's stats, such as "outbound|20880||demo.ns.svc.cluster.local".
func (c *BuildContext) StatPrefix() string {
	m := &c.stat
	if m.value == "" || m.role != c.Role || m.servedBy != c.WaypointServedBy || m.host != c.Service.Hostname || m.port != c.Port.Number || m.tport != c.Port.TargetPort {
		*m = statPrefixMemo{role: c.Role, servedBy: c.WaypointServedBy, host: c.Service.Hostname, port: c.Port.Number, tport: c.Port.TargetPort,
			value: c.clusterName(c.Service.Hostname, c.Port.Number, "")}
	}
	return m.value
}

// ValidateContext is what ObjectValidator gets: the read-only mesh and a
// way to find which of an object's target ports the plugin claims.
type ValidateContext struct {
	// Model is the read-only mesh, including objects that may later be
	// rejected: validation sees everything.
	Model *model.View
	// Claims reports whether a port belongs to the plugin being asked.
	Claims func(*model.Port) bool
	// Targets are the builds of the proxies aeraki configures, so a
	// validator can refuse what none of them can carry.
	Targets Targets
	plugin  string
}

// NewValidateContext is how the core (and the conformance kit) create a
// validation context for a plugin.
func NewValidateContext(pluginName string, view *model.View, claims func(*model.Port) bool) *ValidateContext {
	return &ValidateContext{Model: view, Claims: claims, Targets: DefaultTargets(), plugin: pluginName}
}

// Plugin is the name of the plugin the context was made for.
func (c *ValidateContext) Plugin() string { return c.plugin }

// ClaimedPorts returns the service ports named by hosts (resolved relative
// to namespace) that belong to the plugin, so a validator can ignore
// objects that target other protocols.
func (c *ValidateContext) ClaimedPorts(hosts []string, namespace string) []*model.Port {
	var out []*model.Port
	for _, h := range hosts {
		svc := c.Model.LookupService(h, namespace)
		if svc == nil {
			continue
		}
		for _, p := range svc.Ports {
			if c.Claims != nil && c.Claims(p) {
				out = append(out, p)
			}
		}
	}
	return out
}
