package hbone

import (
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
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

// wpPort is one bound service port and its main_internal chain.
type wpPort struct {
	port  *model.Port
	chain *listenerv3.FilterChain
}

func buildWaypoint(ctx *plugin.ProxyContext, id string, wp *model.Waypoint) (*plugin.Proxy, error) {
	w := &waypoint{ctx: ctx, view: ctx.Model, id: id, wp: wp, td: ctx.Model.Options().TrustDomain}
	w.identity = w.view.WaypointIdentity(wp)
	w.clusters = newVIPClusters(w)
	w.patches = map[string]func(*clusterv3.Cluster, string){}
	if wp.Problem != "" {
		ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: wp.Ref, Reason: "WaypointUnreachable", Message: wp.Problem})
	}
	w.collectServices()
	w.collectWorkloads()

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
// each port's chain.
func (w *waypoint) collectServices() {
	for _, svc := range w.view.Services() {
		if !w.bound(w.view.ServiceWaypoint(svc)) {
			continue
		}
		if len(svc.Addresses) == 0 {
			w.ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: svc.Ref, Reason: "NoAddress",
				Message: "bound to waypoint " + w.wp.Namespace + "/" + w.wp.Name + " but has no virtual IP, so no traffic can be addressed to it through the waypoint; give it a cluster IP (or ServiceEntry addresses)"})
			continue
		}
		s := &wpService{svc: svc}
		for _, port := range svc.Ports {
			s.ports = append(s.ports, &wpPort{port: port, chain: w.portChain(svc, port)})
		}
		w.services = append(w.services, s)
	}
}

// collectWorkloads finds the captured pods bound to the waypoint, whose
// own IPs it then serves.
func (w *waypoint) collectWorkloads() {
	for _, wl := range w.view.Workloads() {
		if ok, _ := w.view.Captured(wl); ok && w.bound(w.view.WorkloadWaypoint(wl)) {
			w.workloads = append(w.workloads, wl.IP)
		}
	}
	sort.Slice(w.workloads, func(i, j int) bool { return lessIP(w.workloads[i], w.workloads[j]) })
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
// failed, or tcp_proxy to the port's cluster when no plugin owns it.
func (w *waypoint) portChain(svc *model.Service, port *model.Port) *listenerv3.FilterChain {
	name := VIPChainName(svc, port)
	if w.ctx.L7 != nil {
		req := plugin.L7Request{Role: plugin.RoleWaypoint, Service: svc, Port: port, Waypoint: w.wp.Ref, Profile: w.ctx.Targets.ForKind(plugin.ProxyKindWaypoint)}
		if l7, ok := w.ctx.L7(req); ok {
			if l7.FailedClosed || len(l7.Filters) == 0 {
				return chain(name, denyFilters(name)...)
			}
			w.clusters.addReferenced(svc, l7.Filters)
			if l7.PatchCluster != nil {
				w.patches[patchKey(svc.Hostname, port.Number)] = l7.PatchCluster
			}
			return chain(name, l7.Filters...)
		}
	}
	cluster := w.clusters.add(svc.Hostname, port.Number, "")
	return chain(name, tcpProxy(name, cluster))
}

// patchKey keys the cluster patches of a service port.
func patchKey(host string, port uint32) string { return model.ClusterName("", port, "", host) }
