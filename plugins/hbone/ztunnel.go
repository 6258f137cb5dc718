package hbone

import (
	"net/netip"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// ztunnel is what one node's ztunnel config is built from. Its parts are
// sized by the node's own pods (local, identities) or by the mesh's
// services and pods, never by their product: that is the scaling rule of
// docs/ambient.md.
type ztunnel struct {
	ctx  *plugin.ProxyContext
	view *model.View
	id   string
	node string
	td   string

	local      []*model.Workload // captured pods on the node, by IP
	identities []*identity       // their distinct identities, by SPIFFE id
	services   []*ztService      // services reached without a waypoint, by hostname
	waypoints  []*ztWaypoint     // waypoints some destination is bound to, by ref
	direct     []string          // captured pods, mesh-wide, reached by their own IP
}

// identity is one service account with pods on the node.
type identity struct {
	spiffe string
	ips    []string
}

// ztService is a service whose endpoints are reached straight over HBONE.
type ztService struct {
	svc   *model.Service
	ports []*ztPort
}

// ztPort is one service port: its chain and cluster share the name
// outbound|<port>||<host>, and its endpoints carry their targets.
type ztPort struct {
	port      *model.Port
	name      string
	endpoints []*endpointv3.LbEndpoint
}

// ztWaypoint is a waypoint destinations are bound to, with the addresses
// bound to it.
type ztWaypoint struct {
	ref     model.ObjectRef
	wp      *model.Waypoint // nil when the named Gateway does not exist
	vips    []string
	pods    []string
	chain   string
	cluster string
}

func buildZtunnel(ctx *plugin.ProxyContext, id, node string) (*plugin.Proxy, error) {
	z := &ztunnel{ctx: ctx, view: ctx.Model, id: id, node: node, td: ctx.Model.Options().TrustDomain}
	z.collectLocal()
	wps := map[string]*ztWaypoint{}
	z.collectServices(wps)
	z.collectWorkloads(wps)
	for _, w := range wps {
		z.waypoints = append(z.waypoints, w)
	}
	sort.Slice(z.waypoints, func(i, j int) bool { return z.waypoints[i].ref.Key() < z.waypoints[j].ref.Key() })

	p := &plugin.Proxy{ID: id, Kind: plugin.ProxyKindZtunnel}
	p.Listeners = append(p.Listeners, z.outboundListener(), z.originateListener(), plaintextOriginateListener(),
		z.inboundListener(), z.inboundPlaintextListener())
	p.Clusters, p.Endpoints = z.clusters()
	return p, nil
}

// collectLocal finds the node's captured pods and groups them by identity.
func (z *ztunnel) collectLocal() {
	byID := map[string]*identity{}
	for _, w := range z.view.NodeWorkloads(z.node) {
		if ok, _ := z.view.Captured(w); !ok {
			continue
		}
		z.local = append(z.local, w)
		sid := z.view.Identity(w)
		if byID[sid] == nil {
			byID[sid] = &identity{spiffe: sid}
			z.identities = append(z.identities, byID[sid])
		}
		byID[sid].ips = append(byID[sid].ips, w.IP)
	}
	sort.Slice(z.local, func(i, j int) bool { return lessIP(z.local[i].IP, z.local[j].IP) })
	sort.Slice(z.identities, func(i, j int) bool { return z.identities[i].spiffe < z.identities[j].spiffe })
}

// collectServices sorts the mesh's services with virtual IPs into those
// bound to a waypoint and those reached directly. A service none of
// whose endpoints is in the mesh is left to pass through.
func (z *ztunnel) collectServices(wps map[string]*ztWaypoint) {
	for _, svc := range z.view.Services() {
		if len(svc.Addresses) == 0 {
			continue
		}
		b := z.view.ServiceWaypoint(svc)
		z.reportBinding(b)
		if b.Bound {
			w := z.waypoint(wps, b)
			w.vips = append(w.vips, svc.Addresses...)
			continue
		}
		if s := z.directService(svc); s != nil {
			z.services = append(z.services, s)
		}
	}
}

// directService builds the ports of a service reached without a
// waypoint, or returns nil when no endpoint of it is in the mesh.
func (z *ztunnel) directService(svc *model.Service) *ztService {
	s := &ztService{svc: svc}
	inMesh := false
	for _, port := range svc.Ports {
		zp := &ztPort{port: port, name: model.ClusterName("outbound", port.Number, "", svc.Hostname)}
		for _, ep := range z.view.Endpoints(svc.Hostname, port.Number) {
			if lb, mesh := z.endpoint(ep); lb != nil {
				zp.endpoints = append(zp.endpoints, lb)
				inMesh = inMesh || mesh
			}
		}
		s.ports = append(s.ports, zp)
	}
	if !inMesh {
		return nil
	}
	return s
}

// endpoint is a service endpoint as the per-service cluster holds it: an
// internal address whose metadata names the target. Mesh pods are reached
// over HBONE (through their workload waypoint, if bound to one); others in
// plaintext. mesh reports whether it is a mesh pod.
func (z *ztunnel) endpoint(ep model.Endpoint) (lb *endpointv3.LbEndpoint, mesh bool) {
	if _, err := netip.ParseAddr(ep.Address); err != nil || ep.Port == 0 {
		return nil, false
	}
	target := hostPort(ep.Address, ep.Port)
	if ok, _ := z.view.Captured(ep.Workload); !ok {
		return internalEndpoint(ListenerPlaintextOriginate, target, "", ep.Ready), false
	}
	waypoint := ""
	if b := z.view.WorkloadWaypoint(ep.Workload); b.Bound {
		if b.Waypoint == nil || len(b.Waypoint.HBONEAddresses()) == 0 {
			return nil, true // fails closed; the binding is reported with the workload
		}
		waypoint = hostPort(b.Waypoint.HBONEAddresses()[0], PortHBONE)
	}
	return internalEndpoint(ListenerConnectOriginate, target, waypoint, ep.Ready), true
}

// collectWorkloads sorts the mesh's captured pods, addressed by their own
// IP, into those bound to a waypoint and those reached directly.
func (z *ztunnel) collectWorkloads(wps map[string]*ztWaypoint) {
	for _, w := range z.view.Workloads() {
		if ok, _ := z.view.Captured(w); !ok {
			continue
		}
		b := z.view.WorkloadWaypoint(w)
		z.reportBinding(b)
		if b.Bound {
			wp := z.waypoint(wps, b)
			wp.pods = append(wp.pods, w.IP)
			continue
		}
		z.direct = append(z.direct, w.IP)
	}
}

// waypoint returns the entry of the waypoint a binding names.
func (z *ztunnel) waypoint(wps map[string]*ztWaypoint, b model.Binding) *ztWaypoint {
	key := b.Gateway.Namespace + "/" + b.Gateway.Name
	if w, ok := wps[key]; ok {
		return w
	}
	w := &ztWaypoint{ref: b.Gateway, wp: b.Waypoint, chain: "to-waypoint|" + key, cluster: "waypoint|" + key}
	if b.Waypoint != nil && b.Waypoint.Problem != "" {
		z.ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: b.Waypoint.Ref, Reason: "WaypointUnreachable", Message: b.Waypoint.Problem})
	}
	wps[key] = w
	return w
}

// reportBinding turns a broken or ignored waypoint binding into a
// diagnostic on the object whose label made it.
func (z *ztunnel) reportBinding(b model.Binding) {
	if b.Problem == "" {
		return
	}
	d := model.Diagnostic{Severity: model.SeverityWarning, Object: b.Via, Field: "metadata.labels['" + model.LabelUseWaypoint + "']", Reason: "WaypointIgnored", Message: b.Problem}
	if b.Bound && b.Waypoint == nil {
		d.Severity, d.Reason = model.SeverityError, "WaypointNotFound"
	}
	z.ctx.Report(d)
}

// clusters lists every cluster of the ztunnel, sorted by name, with the
// EDS resources of the per-service clusters.
func (z *ztunnel) clusters() ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment) {
	out := []*clusterv3.Cluster{
		originalDstCluster(ClusterPassthrough),
		blackHoleCluster(),
		listenerCluster(ClusterEncap, ListenerConnectOriginate),
		originalDstCluster(ClusterInboundDeliver),
	}
	var eds []*endpointv3.ClusterLoadAssignment
	for _, s := range z.services {
		for _, p := range s.ports {
			out = append(out, edsInternalCluster(p.name))
			cla := &endpointv3.ClusterLoadAssignment{ClusterName: p.name}
			if len(p.endpoints) > 0 {
				cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: p.endpoints}}
			}
			eds = append(eds, cla)
		}
	}
	for _, w := range z.waypoints {
		out = append(out, waypointCluster(w))
	}
	for _, id := range z.identities {
		out = append(out, z.tunnelCluster(id.spiffe))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	sort.Slice(eds, func(i, j int) bool { return eds[i].ClusterName < eds[j].ClusterName })
	return out, eds
}

// waypointCluster reaches a waypoint's pods (or service address) on port
// 15008: internal endpoints to connect_originate whose metadata names the
// waypoint, while the destination travels in filter state. A waypoint
// that does not exist, or has no address, gets no endpoint: connections
// bound to it fail instead of skipping it.
func waypointCluster(w *ztWaypoint) *clusterv3.Cluster {
	var eps []*endpointv3.LbEndpoint
	if w.wp != nil {
		for _, a := range w.wp.HBONEAddresses() {
			eps = append(eps, internalEndpoint(ListenerConnectOriginate, "", hostPort(a, PortHBONE), true))
		}
	}
	return staticInternalCluster(w.cluster, eps)
}

func lessIP(a, b string) bool {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	if errX != nil || errY != nil {
		return a < b
	}
	return x.Less(y)
}
