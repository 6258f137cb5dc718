package hbone

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	networkinputv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// waypoint is what one waypoint's config is built from.
type waypoint struct {
	ctx      *plugin.ProxyContext
	view     *model.View
	id       string
	wp       *model.Waypoint
	td       string
	identity string

	services  []*wpService // bound services with virtual IPs, by hostname
	workloads []string     // IPs of captured pods bound to the waypoint
	clusters  *vipClusters // the inbound-vip clusters the chains use
	// patches are the protocol plugins' cluster settings (Redis
	// credentials, cluster mode), by "<host>|<port>", applied to every
	// inbound-vip cluster of that service port.
	patches map[string]func(*clusterv3.Cluster, string)
}

// wpService is one bound service.
type wpService struct {
	svc   *model.Service
	ports []*wpPort
}

// wpPort is one bound service port and its main_internal chain, with
// the chains of the caller classes its protocol plugin tells apart.
type wpPort struct {
	port    *model.Port
	chain   *listenerv3.FilterChain
	callers []callerChain
}

// callerChain is the chain of one caller class.
type callerChain struct {
	caller plugin.Caller
	chain  *listenerv3.FilterChain
}

func buildWaypoint(ctx *plugin.ProxyContext, id string, wp *model.Waypoint) (*plugin.Proxy, error) {
	w := &waypoint{ctx: ctx, view: ctx.Model, id: id, wp: wp, td: ctx.Model.Options().TrustDomain}
	w.identity = w.view.WaypointIdentity(wp)
	w.clusters = newVIPClusters(w)
	w.patches = map[string]func(*clusterv3.Cluster, string){}
	if wp.Problem != "" {
		ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: wp.Ref, Reason: "WaypointUnreachable", Message: wp.Problem})
	}
	if err := w.collectServices(); err != nil {
		return nil, err
	}
	if err := w.collectWorkloads(); err != nil {
		return nil, err
	}

	p := &plugin.Proxy{ID: id, Kind: plugin.ProxyKindWaypoint}
	p.Listeners = append(p.Listeners, w.connectTerminateListener(), w.mainInternalListener(), w.connectOriginateListener())
	p.Clusters, p.Endpoints = w.allClusters()
	return p, nil
}

// bound reports whether a binding resolves to this waypoint.
func (w *waypoint) bound(b model.Binding) bool {
	return b.Bound && b.Waypoint != nil && b.Waypoint.Ref == w.wp.Ref
}

// collectServices finds the services bound to the waypoint and builds
// each port's chain. Which services are bound to it comes from a shared
// piece per waypoint (shared.go), so a service bound elsewhere (or to
// none) added, changed or removed does not rebuild the waypoint; the
// build reads each bound service, and its binding, itself.
func (w *waypoint) collectServices() error {
	v, err := w.ctx.Shared(waypointServicesKey(w.wp), waypointServices(w.wp))
	if err != nil {
		return err
	}
	for _, host := range v.([]string) {
		svc := w.view.Service(host)
		if svc == nil || !w.bound(w.view.ServiceWaypoint(svc)) {
			continue
		}
		if len(svc.Addresses) == 0 {
			w.ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: svc.Ref, Reason: "NoAddress",
				Message: "bound to waypoint " + w.wp.Namespace + "/" + w.wp.Name + " but has no virtual IP, so no traffic can be addressed to it through the waypoint; give it a cluster IP (or ServiceEntry addresses)"})
			continue
		}
		s := &wpService{svc: svc}
		for _, port := range svc.Ports {
			s.ports = append(s.ports, w.portChain(svc, port))
		}
		w.services = append(w.services, s)
	}
	return nil
}

// collectWorkloads finds the captured pods bound to the waypoint, whose
// own IPs it then serves: a shared piece per waypoint (shared.go), so
// the waypoint is built again only when its own pods change.
func (w *waypoint) collectWorkloads() error {
	v, err := w.ctx.Shared(waypointPodsKey(w.wp), waypointPods(w.wp))
	if err != nil {
		return err
	}
	w.workloads = v.([]string)
	return nil
}

// VIPChainName names a waypoint's chain for a service port:
// "inbound-vip|<port>|<protocol>|<host>", the protocol being the one
// detected on the port ("tcp" when unknown).
func VIPChainName(svc *model.Service, port *model.Port) string {
	proto := string(port.Protocol)
	if proto == "" {
		proto = string(model.ProtocolTCP)
	}
	return model.ClusterName("inbound-vip", port.Number, proto, svc.Hostname)
}

// portChain is the main_internal chain of one bound service port: the
// owning protocol plugin's L7 filters, a deny chain when that plugin
// failed, or tcp_proxy to the port's cluster when no plugin owns it. The
// waypoint picks chains by caller (filter state FilterStatePeerPrincipal
// is set at connect_terminate and shared with main_internal), so a plugin
// whose chain depends on the caller gets one chain per caller class.
func (w *waypoint) portChain(svc *model.Service, port *model.Port) *wpPort {
	name := VIPChainName(svc, port)
	out := &wpPort{port: port}
	if w.ctx.L7 != nil {
		build := w.ctx.Targets.ForKind(plugin.ProxyKindWaypoint)
		req := plugin.L7Request{Role: plugin.RoleWaypoint, Service: svc, Port: port, Waypoint: w.wp.Ref, Profile: build, ByCaller: PicksByCaller(build)}
		if l7, ok := w.ctx.L7(req); ok {
			out.chain = w.l7Chain(name, svc, l7.Filters, l7.FailedClosed)
			if l7.PatchCluster != nil {
				w.patches[patchKey(svc.Hostname, port.Number)] = l7.PatchCluster
			}
			for _, v := range l7.ByCaller {
				out.callers = append(out.callers, callerChain{caller: v.Caller, chain: w.l7Chain(CallerChainName(name, v.Caller), svc, v.Filters, v.FailedClosed)})
			}
			return out
		}
	}
	cluster := w.clusters.add(svc.Hostname, port.Number, "")
	out.chain = chain(name, tcpProxy(name, cluster))
	return out
}

// PicksByCaller reports whether a waypoint running build picks its
// chains by the caller's identity (L7Request.ByCaller): it needs the
// filter-state matching input inputPeerPrincipal configures (upstream
// Envoy has it; istio-proxy's extension list does not), else plugins
// build one chain per port and report what it cannot enforce.
func PicksByCaller(build *profile.Profile) bool {
	return build.HasType(string((&networkinputv3.FilterStateInput{}).ProtoReflect().Descriptor().FullName()))
}

// l7Chain is a protocol plugin's chain, or a deny chain when it failed.
func (w *waypoint) l7Chain(name string, svc *model.Service, filters []*listenerv3.Filter, failed bool) *listenerv3.FilterChain {
	if failed || len(filters) == 0 {
		return chain(name, denyFilters(name)...)
	}
	w.clusters.addReferenced(svc, filters)
	return chain(name, filters...)
}

// CallerChainName names the chain of a service port for one caller class:
// "<VIPChainName>|principal:<SPIFFE id>" or "...|namespace:<ns>".
func CallerChainName(portChain string, c plugin.Caller) string { return portChain + "|" + c.String() }

// patchKey keys the cluster patches of a service port.
func patchKey(host string, port uint32) string { return model.ClusterName("", port, "", host) }
