package translate

import (
	"context"
	"fmt"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// The waypoints istiod serves (class istio-waypoint) get aeraki's chains as
// EnvoyFilters, as sidecars do, but shaped by how istiod attaches policy to
// a waypoint and names its config (package istiodwaypoint has the names
// and the istiod sources they come from):
//
//   - one EnvoyFilter per (waypoint, service), in the waypoint's namespace,
//     with targetRefs naming the Gateway: istiod applies an EnvoyFilter to
//     a waypoint only through targetRefs. Per service, as for sidecars,
//     so that a change to one service's routes re-sends one small object
//     whose aeraki.io/source annotation names what it was built from, and
//     a service that fails closed does not touch the others' patches;
//   - context SIDECAR_INBOUND (istiod builds main_internal as an inbound
//     listener), listener main_internal, the service port's chain by name
//     (inbound-vip|<port>|tcp|<host>) and its tcp_proxy; no portNumber, since
//     an internal listener has no address to match it against;
//   - the chain built for RoleWaypoint with the istiod waypoints' build
//     (istio-proxy: dubbo_proxy, thrift_proxy, redis_proxy, no
//     generic_proxy), routes naming istiod's clusters, checked by the
//     fidelity gate against that build like every unit.

// gatewayGroup is the API group of Gateway API Gateways.
const gatewayGroup = "gateway.networking.k8s.io"

// istiodWaypointOf is the istiod-served waypoint traffic to svc goes
// through, or nil (no waypoint, aeraki's own, or a broken binding, which
// the ambient model reports).
func istiodWaypointOf(view *model.View, svc *model.Service) *model.Waypoint {
	b := view.ServiceWaypoint(svc)
	if !b.Bound || b.Waypoint == nil || b.Waypoint.ServedBy != model.ServedByIstiod {
		return nil
	}
	return b.Waypoint
}

// hasIstiodWaypoint reports whether the mesh has a waypoint istiod serves.
func hasIstiodWaypoint(view *model.View) bool {
	for _, wp := range view.Waypoints() {
		if wp.ServedBy == model.ServedByIstiod {
			return true
		}
	}
	return false
}

// istiodClusterPatches handles cluster settings (Redis credentials, Redis
// Cluster discovery, the consistent-hash load balancer) for a waypoint
// istiod serves. Its clusters are istiod's, and istiod applies no
// EnvoyFilter CLUSTER MERGE to them: for a waypoint it builds the
// inbound-vip clusters and adds only inserted (ADD) clusters
// (pilot/pkg/networking/core/cluster.go, BuildClusters, case
// model.Waypoint). A load-balancer policy alone is left out with a
// warning (redis_proxy still works; a DestinationRule sets it on istiod's
// clusters); anything else fails the port closed, since a Redis port
// without its credentials or its cluster discovery would connect wrongly.
func istiodClusterPatches(pluginName string, svc *model.Service, wp model.ObjectRef, patches []ClusterPatch) ([]ClusterPatch, []model.Diagnostic, error) {
	var refused []string
	lb := ""
	for _, p := range patches {
		rest := proto.Clone(p.Patch).(*clusterv3.Cluster)
		if rest.LbPolicy != clusterv3.Cluster_ROUND_ROBIN {
			lb = rest.LbPolicy.String()
		}
		rest.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		if !proto.Equal(rest, &clusterv3.Cluster{}) {
			refused = append(refused, p.Name)
		}
	}
	if len(refused) > 0 {
		return nil, nil, fmt.Errorf("the plugin sets cluster fields (credentials or discovery) on %s that aeraki cannot deliver to waypoint %s/%s: istiod builds its clusters and applies no EnvoyFilter cluster patch to them; bind the service to an aeraki-served waypoint (class %s is istiod's), or to none, to use them",
			strings.Join(refused, ", "), wp.Namespace, wp.Name, istiodwaypoint.GatewayClass)
	}
	var diags []model.Diagnostic
	if lb != "" {
		diags = append(diags, model.Diagnostic{Severity: model.SeverityWarning, Object: svc.Ref, Reason: "IstiodClusterSetting", Plugin: pluginName,
			Message: fmt.Sprintf("%s, bound to waypoint %s/%s (served by istiod): load balancer %s is not set on istiod's clusters (istiod applies no EnvoyFilter cluster patch to a waypoint), so keys are not hashed to endpoints; set it with a DestinationRule (trafficPolicy.loadBalancer.consistentHash.maglev)",
				svc.Hostname, wp.Namespace, wp.Name, lb)})
	}
	return nil, diags, nil
}

// istiodPortWarnings warns when istiod's waypoint would not run every
// connection of the port through the TCP chain aeraki patches.
func istiodPortWarnings(pluginName string, svc *model.Service, port *model.Port, wp model.ObjectRef) []model.Diagnostic {
	msg := istiodwaypoint.PortProblem(svc, port)
	if msg == "" {
		return nil
	}
	return []model.Diagnostic{{Severity: model.SeverityWarning, Object: svc.Ref, Reason: "IstiodSniffsPort", Plugin: pluginName,
		Message: fmt.Sprintf("%s, bound to waypoint %s/%s (served by istiod): %s", svc.Hostname, wp.Namespace, wp.Name, msg)}}
}

// istiodClusterWarnings warns about every cluster the chain's routes name
// that istiod does not build for the waypoint: istiod builds the
// inbound-vip clusters of the services bound to it only (their TCP and
// sniffed ports, each DestinationRule subset), so a route to another
// service, or to an HTTP port, finds no cluster and its calls fail
// (dubbo_proxy and thrift_proxy answer "unknown cluster"). Denied calls
// routed to BlackHoleCluster, which istiod's waypoint lacks too, fail the
// same way, which is what a deny route is for: they are not reported.
// Reading only the services the routes name keeps the unit's dependencies
// to those.
func istiodClusterWarnings(view *model.View, pluginName string, svc *model.Service, wp model.ObjectRef, filters []*listenerv3.Filter) []model.Diagnostic {
	var out []model.Diagnostic
	warn := func(name, why string) {
		out = append(out, model.Diagnostic{Severity: model.SeverityWarning, Object: svc.Ref, Reason: "UnknownCluster", Plugin: pluginName,
			Message: fmt.Sprintf("%s, bound to waypoint %s/%s (served by istiod): a route names cluster %s, which istiod does not build for that waypoint (%s); calls on that route fail", svc.Hostname, wp.Namespace, wp.Name, name, why)})
	}
	seen := map[string]bool{}
	for _, f := range filters {
		for _, name := range xds.ReferencedClusters(f) {
			if seen[name] || name == plugin.ClusterBlackHole {
				continue
			}
			seen[name] = true
			host, port, subset, ok := istiodwaypoint.ParseClusterName(name)
			if !ok {
				warn(name, "not an inbound-vip|<port>|tcp[/<subset>]|<host> cluster")
				continue
			}
			target := view.Service(host)
			if target == nil {
				warn(name, "no such service")
				continue
			}
			if b := view.ServiceWaypoint(target); !b.Bound || b.Waypoint == nil || b.Waypoint.Ref != wp {
				warn(name, host+" is not bound to the waypoint; bind it with "+model.LabelUseWaypoint)
				continue
			}
			p := target.Port(port)
			if p == nil {
				warn(name, "the service has no such port")
				continue
			}
			if kind, _ := istiodwaypoint.Classify(target, p); kind == istiodwaypoint.PortHTTP {
				warn(name, "istiod reads the port as HTTP")
				continue
			}
			if _, ok := view.Subset(host, subset); subset != "" && !ok {
				warn(name, "no DestinationRule subset "+subset)
			}
		}
	}
	return out
}

// istiodWaypointEnvoyFilters assembles the EnvoyFilters of the waypoint
// units that istiod-served waypoints get, one per (waypoint, service).
// prev and next are the assembly caches sidecarEnvoyFilters keeps.
func istiodWaypointEnvoyFilters(ctx context.Context, units []*Unit, prev, next map[string]*assembled) []*EnvoyFilter {
	type group struct {
		svc   *model.Service
		wp    model.ObjectRef
		units []*Unit
	}
	groups := map[string]*group{}
	for _, u := range units {
		if u.Skipped || !u.IstiodWaypoint() {
			continue
		}
		k := u.Waypoint.Namespace + "/" + u.Waypoint.Name + "|" + u.Service.Hostname
		g := groups[k]
		if g == nil {
			g = &group{svc: u.Service, wp: u.Waypoint}
			groups[k] = g
		}
		g.units = append(g.units, u)
	}
	var out []*EnvoyFilter
	for _, g := range groups {
		if ctx.Err() != nil {
			return nil
		}
		key, name := envoyFilterKey(g.wp.Namespace, "waypoint-"+g.wp.Name, g.svc.Hostname)
		out = append(out, reuseAssembled(prev, next, key, g.units, func() *EnvoyFilter {
			as := newAssembler()
			ef := as.build(g.wp.Namespace, name, g.svc, nil, g.units, as.arena.istiodWaypointPatches)
			ef.spec.TargetRefs = []*typev1beta1.PolicyTargetReference{{Group: gatewayGroup, Kind: "Gateway", Name: g.wp.Name}}
			ef.SetAnnotation(WaypointAnnotation, g.wp.Namespace+"/"+g.wp.Name)
			as.seal(ef, g.units)
			return ef
		}))
	}
	return out
}

// WaypointAnnotation names, on an EnvoyFilter for a waypoint istiod
// serves, that waypoint ("<namespace>/<name>"), so `aeraki render` and
// kubectl show which waypoint a patch is for.
const WaypointAnnotation = "aeraki.io/waypoint"

// istiodWaypointPatches replaces tcp_proxy in the port's chain of
// main_internal (istio.metadata_exchange before it stays).
func (a *specArena) istiodWaypointPatches(svc *model.Service, u *Unit) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	match := a.listenerMatch(networkingv1alpha3.EnvoyFilter_SIDECAR_INBOUND, istiodwaypoint.MainInternal, 0,
		istiodwaypoint.ChainName(svc.Hostname, u.Port.Number), 0, istiodwaypoint.TCPProxyFilter)
	return a.done(a.filterPatches(a.unitPatches(), match, u))
}

// IstiodWaypoint reports whether the unit is a chain for a waypoint istiod
// serves (delivered as an EnvoyFilter), rather than one aeraki serves.
func (u *Unit) IstiodWaypoint() bool {
	return u.Role == plugin.RoleWaypoint && u.ServedBy == model.ServedByIstiod
}
