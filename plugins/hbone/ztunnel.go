package hbone

import (
	"net/netip"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// reporter is where findings go: the proxy's context, or a shared
// piece's.
type reporter interface {
	Report(d model.Diagnostic)
}

// ztunnel is what one node's ztunnel config is built from. Its parts are
// sized by the node's own pods (local, identities) or by the mesh's
// services and pods, never by their product: that is the scaling rule of
// docs/ambient.md. The mesh-wide parts are shared pieces, built once per
// translation for every ztunnel (shared.go): the node's own build
// includes their resources and reads neither, so only a change to the
// node's own pods (their addresses, capture, identities) runs it again.
type ztunnel struct {
	ctx  reporter
	view *model.View
	id   string
	node string
	td   string

	local      []*model.Workload // captured pods on the node, by IP
	identities []*identity       // their distinct identities, by SPIFFE id
}

// meshScan is what the mesh-wide parts of ztunnel config are collected
// into, in a shared piece's build.
type meshScan struct {
	ctx       reporter
	view      *model.View
	services  []*ztService  // services reached without a waypoint, by hostname
	waypoints []*ztWaypoint // waypoints some destination is bound to, by ref
	wps       map[string]*ztWaypoint
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
	if err := ctx.Include(pieceZtunnelServices, buildZtunnelServices); err != nil {
		return nil, err
	}
	if err := ctx.Include(pieceZtunnelPods, buildZtunnelPods); err != nil {
		return nil, err
	}

	p := &plugin.Proxy{ID: id, Kind: plugin.ProxyKindZtunnel}
	p.Listeners = append(p.Listeners, z.outboundListener(), z.originateListener(), plaintextOriginateListener(),
		z.inboundListener(), z.inboundPlaintextListener())
	p.Clusters = z.clusters()
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
func (z *meshScan) collectServices() {
	for _, svc := range z.view.Services() {
		if len(svc.Addresses) == 0 {
			continue
		}
		b := z.view.ServiceWaypoint(svc)
		reportBinding(z.ctx, b)
		if b.Bound {
			w := z.waypoint(b.Gateway, b.Waypoint)
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
func (z *meshScan) directService(svc *model.Service) *ztService {
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
func (z *meshScan) endpoint(ep model.Endpoint) (lb *endpointv3.LbEndpoint, mesh bool) {
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

// waypoint returns the entry of a waypoint destinations are bound to
// (wp nil when the Gateway does not exist).
func (z *meshScan) waypoint(ref model.ObjectRef, wp *model.Waypoint) *ztWaypoint {
	key := ref.Namespace + "/" + ref.Name
	if w, ok := z.wps[key]; ok {
		return w
	}
	w := &ztWaypoint{ref: ref, wp: wp, chain: "to-waypoint|" + key, cluster: "waypoint|" + key}
	if wp != nil && wp.Problem != "" {
		z.ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: wp.Ref, Reason: "WaypointUnreachable", Message: wp.Problem})
	}
	z.wps[key] = w
	z.waypoints = append(z.waypoints, w)
	return w
}

// sortWaypoints orders the waypoints by ref.
func (z *meshScan) sortWaypoints() {
	sort.Slice(z.waypoints, func(i, j int) bool { return z.waypoints[i].ref.Key() < z.waypoints[j].ref.Key() })
}

// reportBinding turns a broken or ignored waypoint binding into a
// diagnostic on the object whose label made it.
func reportBinding(r reporter, b model.Binding) {
	if d, ok := bindingProblem(b); ok {
		r.Report(d)
	}
}

func bindingProblem(b model.Binding) (model.Diagnostic, bool) {
	if b.Problem == "" {
		return model.Diagnostic{}, false
	}
	d := model.Diagnostic{Severity: model.SeverityWarning, Object: b.Via, Field: "metadata.labels['" + model.LabelUseWaypoint + "']", Reason: "WaypointIgnored", Message: b.Problem}
	if b.Bound && b.Waypoint == nil {
		d.Severity, d.Reason = model.SeverityError, "WaypointNotFound"
	}
	return d, true
}

// clusters lists the node's own clusters, sorted by name: the shared
// pieces bring the per-service and per-waypoint ones.
func (z *ztunnel) clusters() []*clusterv3.Cluster {
	out := []*clusterv3.Cluster{
		originalDstCluster(ClusterPassthrough),
		blackHoleCluster(),
		listenerCluster(ClusterEncap, ListenerConnectOriginate),
		originalDstCluster(ClusterInboundDeliver),
		listenerCluster(ClusterZtunnelOutboundServices, ListenerZtunnelOutboundServices),
		listenerCluster(ClusterZtunnelOutboundPods, ListenerZtunnelOutboundPods),
	}
	for _, id := range z.identities {
		out = append(out, z.tunnelCluster(id.spiffe))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
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
