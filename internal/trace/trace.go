package trace

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/hbonenames"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// Request is a call as `aeraki trace` takes it.
type Request struct {
	// From is the caller: "<namespace>/<pod>" or an IP.
	From string
	// To is the destination: "<host>:<port>" (a service hostname, short
	// names resolved in the caller's namespace) or "<ip>:<port>".
	To string
	// Attributes are the L7 attributes of the call (for Dubbo: interface,
	// method, and attachments).
	Attributes map[string]string
	// Ztunnel is the ztunnel the mesh's nodes run: ZtunnelEnvoy (or "")
	// follows aeraki's Envoy ztunnel config; ZtunnelRust starts the call at
	// Istio's Rust ztunnel's HBONE request to the destination's waypoint,
	// as istiod's WDS would tell it, and ends it at the destination node's
	// Rust ztunnel (RustZtunnel).
	Ztunnel string
}

// The ztunnels a trace can start from.
const (
	// ZtunnelEnvoy is aeraki's Envoy-based ztunnel, traced on its config.
	ZtunnelEnvoy = "envoy"
	// ZtunnelRust is Istio's ztunnel, emulated from its source.
	ZtunnelRust = "rust"
)

// sourcePort is the ephemeral port the traced call comes from.
const sourcePort = 40000

// Run traces a call through the proxies of a translation. The model is
// used only to find the addresses a request names and to say what
// addresses are; every decision is taken on the generated config.
func Run(out *translate.Output, req Request) (*Result, error) {
	view := out.Snapshot.View()
	src, srcNS, err := resolveSource(view, req.From)
	if err != nil {
		return nil, err
	}
	dst, err := resolveDestination(view, req.To, srcNS)
	if err != nil {
		return nil, err
	}
	proxies := map[string]*plugin.Proxy{}
	profiles := map[string]*profile.Profile{}
	for _, p := range out.Proxies {
		proxies[p.ID] = p.Proxy
		if p.Profile != nil {
			profiles[p.ID] = p.Profile
		}
	}
	istiod := istiodWaypoints(out, view, proxies, profiles)
	sim := &Simulator{Proxies: proxies, Profiles: profiles, Network: &meshNetwork{view: view, proxies: proxies}}
	call := Call{Source: netip.AddrPortFrom(src, sourcePort), Destination: dst, Attributes: req.Attributes}
	switch req.Ztunnel {
	case "", ZtunnelEnvoy:
	case ZtunnelRust:
		z, err := rustZtunnel(view, src, dst)
		if err != nil {
			return nil, err
		}
		call.Ztunnel = z
	default:
		return nil, fmt.Errorf("--ztunnel %q: use %s or %s", req.Ztunnel, ZtunnelEnvoy, ZtunnelRust)
	}
	res := sim.Run(call)
	markIstiodHops(res, istiod)
	return res, nil
}

// rustZtunnel is what Istio's ztunnel on the source's node would do for a
// connection from src to dst: HBONE to the waypoint istiod names for the
// destination (service waypoint first, then the workload's: ztunnel
// src/proxy/outbound.rs build_request), with the identities it would
// check on it.
func rustZtunnel(view *model.View, src netip.Addr, dst netip.AddrPort) (*RustZtunnel, error) {
	w := view.WorkloadByIP(src.String())
	if w == nil {
		return nil, fmt.Errorf("--ztunnel rust: %s is not a pod or workload entry in the manifests, so no ztunnel knows its identity", src)
	}
	z := &RustZtunnel{Identity: view.Identity(w)}
	var wp *model.Waypoint
	for _, svc := range view.Services() {
		if slices.Contains(svc.Addresses, dst.Addr().String()) {
			z.ServiceHostname = svc.Hostname
			if b := view.ServiceWaypoint(svc); b.Bound && b.Waypoint != nil {
				wp = b.Waypoint
			}
			break
		}
	}
	if wp == nil {
		if d := view.WorkloadByIP(dst.Addr().String()); d != nil {
			if b := view.WorkloadWaypoint(d); b.Bound && b.Waypoint != nil {
				wp = b.Waypoint
			}
		}
	}
	if wp == nil {
		return nil, fmt.Errorf("--ztunnel rust: %s is not bound to a waypoint; the Rust ztunnel is emulated on its way into a waypoint only (drop --ztunnel to trace aeraki's ztunnel)", dst)
	}
	addrs := wp.HBONEAddresses()
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--ztunnel rust: waypoint %s/%s has no address, so no ztunnel can reach it", wp.Namespace, wp.Name)
	}
	ip, err := netip.ParseAddr(addrs[0])
	if err != nil {
		return nil, fmt.Errorf("--ztunnel rust: waypoint %s/%s address %q: %v", wp.Namespace, wp.Name, addrs[0], err)
	}
	z.Waypoint = netip.AddrPortFrom(ip, hbonenames.PortHBONE)
	z.WaypointIdentities = []string{view.WaypointIdentity(wp)}
	z.Pods = map[string]string{}
	for _, p := range view.Workloads() {
		if ok, _ := view.Captured(p); ok && p.Ref.Kind == "Pod" && p.IP != "" {
			z.Pods[p.IP] = view.Identity(p)
		}
	}
	return z, nil
}

func resolveSource(view *model.View, from string) (netip.Addr, string, error) {
	if ip, err := netip.ParseAddr(from); err == nil {
		ns := ""
		if w := view.WorkloadByIP(ip.String()); w != nil {
			ns = w.Namespace
		}
		return ip, ns, nil
	}
	ns, name, ok := strings.Cut(from, "/")
	if !ok || ns == "" || name == "" {
		return netip.Addr{}, "", fmt.Errorf("--from %q: write <namespace>/<pod> or an IP address", from)
	}
	for _, w := range view.Workloads() {
		if w.Namespace == ns && w.Name == name {
			ip, err := netip.ParseAddr(w.IP)
			if err != nil {
				return netip.Addr{}, "", fmt.Errorf("--from %s: %s %s has no IP (status.podIP); add it to the manifest", from, w.Ref.Kind, from)
			}
			return ip, ns, nil
		}
	}
	return netip.Addr{}, "", fmt.Errorf("--from %s: no Pod or WorkloadEntry %s in the manifests", from, from)
}

func resolveDestination(view *model.View, to, srcNS string) (netip.AddrPort, error) {
	h, p, err := net.SplitHostPort(to)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--to %q: write <host>:<port> or <ip>:<port>", to)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("--to %q: %q is not a port", to, p)
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return netip.AddrPortFrom(ip, uint16(port)), nil
	}
	svc := lookupService(view, h, srcNS)
	if svc == nil {
		return netip.AddrPort{}, fmt.Errorf("--to %s: no Service or ServiceEntry %q (resolved in namespace %q); name a service or an IP", to, h, srcNS)
	}
	for _, a := range svc.Addresses {
		if ip, err := netip.ParseAddr(a); err == nil {
			return netip.AddrPortFrom(ip, uint16(port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("--to %s: service %s has no virtual IP (clusterIP or ServiceEntry addresses); trace to one of its endpoints' IPs instead", to, svc.Hostname)
}

// lookupService finds a service the way a pod's DNS search path would:
// "name" in the caller's namespace, "name.ns", "name.ns.svc", or the full
// hostname (ServiceEntry hosts included).
func lookupService(view *model.View, h, ns string) *model.Service {
	if svc := view.LookupService(h, ns); svc != nil {
		return svc
	}
	suffix := view.Options().DomainSuffix
	for _, full := range []string{h + ".svc." + suffix, h + "." + suffix} {
		if svc := view.Service(full); svc != nil {
			return svc
		}
	}
	return nil
}

// meshNetwork is the Network of a model: pods run on nodes whose ztunnel
// captures their outbound connections; a pod's IP is owned by its node's
// ztunnel, a waypoint's address by the waypoint.
type meshNetwork struct {
	view    *model.View
	proxies map[string]*plugin.Proxy
}

func (n *meshNetwork) ztunnelOf(ip netip.Addr) string {
	w := n.view.WorkloadByIP(ip.String())
	if w == nil || w.Node == "" {
		return ""
	}
	if id := hbonenames.ZtunnelID(w.Node); n.proxies[id] != nil {
		return id
	}
	return ""
}

// Outbound implements Network: a pod's node's ztunnel, port 15001.
func (n *meshNetwork) Outbound(src netip.Addr) (string, uint32) {
	if id := n.ztunnelOf(src); id != "" {
		return id, hbonenames.PortOutbound
	}
	return "", 0
}

// Owner implements Network.
func (n *meshNetwork) Owner(ip netip.Addr) string {
	if wp := n.view.WaypointAt(ip.String()); wp != nil {
		return hbonenames.WaypointID(wp.Namespace, wp.Name)
	}
	return n.ztunnelOf(ip)
}

// InboundPlaintextPort implements Network: ztunnels capture plaintext for their pods on 15006.
func (n *meshNetwork) InboundPlaintextPort(proxy string) uint32 {
	if kind, _, err := hbonenames.ParseID(proxy); err == nil && kind == plugin.ProxyKindZtunnel {
		return hbonenames.PortInboundPlaintext
	}
	return 0
}

// Recaptured implements Network: what ztunnel_outbound passes through
// is still the pod's own connection, and so is what the internal
// listeners it hands the node's pods' connections to pass through
// (ztunnel_outbound_services for a service address on a port the service
// does not have, ztunnel_outbound_pods for a destination that is no
// service). Those hops are followed as Envoy takes them, not here: the
// to_services and to_pods chains' tcp_proxy connects to a cluster whose
// endpoint is the listener's internal address (the simulator's
// acceptInternal; Envoy's
// source/extensions/bootstrap/internal_listener/client_connection_factory.cc,
// which closes the connection when the proxy has no listener of that
// name), the filter state the chain shared ONCE arrives in the internal
// connection (source/common/stream_info/filter_state_impl.cc,
// objectsSharedWithUpstreamConnection;
// source/extensions/transport_sockets/internal_upstream/internal_upstream.cc;
// ActiveInternalListener::onAccept in
// source/extensions/bootstrap/internal_listener/active_internal_listener.cc),
// and the listener's original_dst filter restores the destination and
// source from it (source/extensions/filters/listener/original_dst/original_dst.cc,
// the EnvoyInternal case). A passthrough there goes, through the
// ORIGINAL_DST PassthroughCluster, to that restored destination.
func (n *meshNetwork) Recaptured(proxy, listener string) bool {
	switch listener {
	case hbonenames.ListenerZtunnelOutbound, hbonenames.ListenerZtunnelOutboundServices, hbonenames.ListenerZtunnelOutboundPods:
		return true
	}
	return false
}

// Name implements Network.
func (n *meshNetwork) Name(ip netip.Addr) string {
	s := ip.String()
	if wp := n.view.WaypointAt(s); wp != nil {
		return "waypoint " + wp.Namespace + "/" + wp.Name
	}
	if w := n.view.WorkloadByIP(s); w != nil {
		where := ""
		if w.Node != "" {
			where = " on " + w.Node
		}
		return strings.ToLower(w.Ref.Kind) + " " + w.Namespace + "/" + w.Name + where
	}
	for _, svc := range n.view.Services() {
		for _, a := range svc.Addresses {
			if a == s {
				return "service " + svc.Hostname
			}
		}
	}
	return "address outside the mesh"
}
