package hbone

import (
	"net/netip"
	"sort"

	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// The shared pieces (plugin.SharedPiece) of the plugin's proxies. Every
// ztunnel routes the whole mesh alike; only its sources (the node's pods)
// and identities are its own. So the mesh-wide parts are built once per
// translation, and split by what changes them:
//
//   - pieceZtunnelServices, from the services: the
//     ztunnel_outbound_services listener (the chains and the destination
//     matcher of service addresses) with the per-service clusters and
//     endpoints, included in every ztunnel as they are, so a service
//     added, changed or removed changes this listener and the service's
//     cluster, and no node's build runs again; its Value, the waypoints
//     services are bound to, is what the pods piece reads;
//   - pieceZtunnelPods, from the pods: the ztunnel_outbound_pods listener
//     and the waypoint clusters, included in every ztunnel as they are,
//     so a pod joining or leaving the mesh changes this one small
//     listener and no node's build runs again but the pod's own node's;
//   - pieceWorkloadBindings, from the pods: which waypoint each captured
//     pod is bound to, scanned once for the ztunnels' piece and the
//     waypoints';
//   - waypointPodsKey(waypoint): the pods bound to one waypoint, with a
//     Revision of its own, so a pod bound elsewhere (or to none) does
//     not rebuild the waypoint;
//   - pieceServiceBindings, from the services: which waypoint each
//     service is bound to, scanned once for the waypoints' pieces;
//   - waypointServicesKey(waypoint): the services bound to one waypoint,
//     likewise, so a service bound elsewhere does not rebuild it.
const (
	pieceZtunnelServices  = Name + "/ztunnel-services"
	pieceZtunnelPods      = Name + "/ztunnel-pods"
	pieceWorkloadBindings = Name + "/workload-bindings"
	pieceServiceBindings  = Name + "/service-bindings"
)

// buildZtunnelServices builds pieceZtunnelServices: the
// ztunnel_outbound_services listener, the per-service clusters and their
// endpoints; its Value is the waypoints services are bound to
// ([]model.ObjectRef, sorted), with their Revision.
//
// ztunnel_outbound hands it every outbound connection of the node's pods
// (chain to_services), through a cluster whose endpoint is the listener's
// internal address, as ztunnel_outbound_pods is reached (see
// buildZtunnelPods for the Envoy mechanism); its original_dst filter
// restores the destination and source from filter state. Then, by
// destination IP:
//
//	VIP of a direct service   -> destination port -> outbound|<port>||<host>
//	VIP bound to a waypoint   -> to-waypoint|<ns>/<name>
//	anything else             -> to_pods: ztunnel_outbound_pods
//
// The chains read the restored addresses as ztunnel_outbound's did: the
// per-service chain hands the source on (the endpoint's metadata carries
// the destination), the waypoint and to_pods chains both.
func buildZtunnelServices(ctx *plugin.SharedContext) (*plugin.SharedPiece, error) {
	z := &meshScan{ctx: ctx, view: ctx.Model, wps: map[string]*ztWaypoint{}}
	z.collectServices()
	z.sortWaypoints()
	waypoints := []model.ObjectRef{}
	passthrough := toChain(ChainPassthrough)
	toPods := toChain(ChainToPods)
	chains := []*listenerv3.FilterChain{
		chain(ChainPassthrough, tcpProxy(ChainPassthrough, ClusterPassthrough)),
		chain(ChainToPods, setFilterState(carryDestination(), carrySource()), tcpProxy(ChainToPods, ClusterZtunnelOutboundPods)),
	}
	var ranges []ipRange
	var clusters []*clusterv3.Cluster
	var eds []*endpointv3.ClusterLoadAssignment
	for _, s := range z.services {
		ports := map[uint32]*xdsmatcher.Matcher_OnMatch{}
		for _, p := range s.ports {
			ports[p.port.Number] = toChain(p.name)
			chains = append(chains, chain(p.name, setFilterState(carrySource()), tcpProxy(p.name, p.name)))
			clusters = append(clusters, edsInternalCluster(p.name))
			cla := &endpointv3.ClusterLoadAssignment{ClusterName: p.name}
			if len(p.endpoints) > 0 {
				cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: p.endpoints}}
			}
			eds = append(eds, cla)
		}
		ranges = append(ranges, ipRange{ips: s.svc.Addresses, onMatch: orChain(portMatcher(inputDestinationPort(), ports, passthrough), passthrough)})
	}
	for _, w := range z.waypoints {
		chains = append(chains, waypointChain(w))
		ranges = append(ranges, ipRange{ips: w.vips, onMatch: toChain(w.chain)})
		waypoints = append(waypoints, w.ref)
	}
	l := internalListener(ListenerZtunnelOutboundServices, chains)
	if l.FilterChainMatcher = ipMatcher(inputDestinationIP(), ranges, toPods); l.FilterChainMatcher == nil {
		l.FilterChains = chains[1:2] // no service address: everything goes to the pods
	}
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].Name < clusters[j].Name })
	sort.Slice(eds, func(i, j int) bool { return eds[i].ClusterName < eds[j].ClusterName })
	return &plugin.SharedPiece{Value: waypoints, Revision: model.RevisionOf(waypoints),
		Listeners: []*listenerv3.Listener{l}, Clusters: clusters, Endpoints: eds}, nil
}

// waypointChain hands a connection to a waypoint's cluster, with the
// destination and source for connect_originate.
func waypointChain(w *ztWaypoint) *listenerv3.FilterChain {
	return chain(w.chain, setFilterState(carryDestination(), carrySource()), tcpProxy(w.chain, w.cluster))
}

// workloadBindings is the Value of pieceWorkloadBindings. Its fields are
// exported for model.RevisionOf.
type workloadBindings struct {
	// Direct are the IPs of captured pods bound to no waypoint.
	Direct []string
	// ByWaypoint are the IPs of captured pods bound to each waypoint, by
	// "<namespace>/<name>" of the Gateway the binding names.
	ByWaypoint map[string][]string
	// Gateways are the Gateways those bindings name, by the same key.
	Gateways map[string]model.ObjectRef
	// Problems are the bindings that are broken or ignored, as findings;
	// the ztunnels' piece reports them.
	Problems []model.Diagnostic
}

// buildWorkloadBindings builds pieceWorkloadBindings.
func buildWorkloadBindings(ctx *plugin.SharedContext) (*plugin.SharedPiece, error) {
	view := ctx.Model
	v := &workloadBindings{ByWaypoint: map[string][]string{}, Gateways: map[string]model.ObjectRef{}}
	for _, w := range view.Workloads() {
		if ok, _ := view.Captured(w); !ok {
			continue
		}
		b := view.WorkloadWaypoint(w)
		if d, ok := bindingProblem(b); ok {
			v.Problems = append(v.Problems, d)
		}
		if b.Bound {
			key := b.Gateway.Namespace + "/" + b.Gateway.Name
			v.ByWaypoint[key] = append(v.ByWaypoint[key], w.IP)
			v.Gateways[key] = b.Gateway
			continue
		}
		v.Direct = append(v.Direct, w.IP)
	}
	return &plugin.SharedPiece{Value: v, Revision: model.RevisionOf(v)}, nil
}

// buildZtunnelPods builds pieceZtunnelPods: ztunnel_outbound_pods and the
// clusters of every waypoint a destination is bound to.
//
// ztunnel_outbound_services hands it what is addressed to no service
// (chain to_pods) through a cluster whose endpoint is the listener's internal
// address, envoy_internal_address.server_listener_name (Envoy's
// api/envoy/config/core/v3/address.proto, EnvoyInternalAddress): Envoy's
// envoy.bootstrap.internal_listener extension, which the ztunnel's build
// (upstream Envoy, pkg/profile) has, connects such an address to the
// listener of that name in the same Envoy, and closes the connection when
// there is none (source/extensions/bootstrap/internal_listener/
// client_connection_factory.cc, findByAddress). The connection carries
// its destination and source in filter state, which the listener's
// original_dst filter restores (source/extensions/filters/listener/
// original_dst/original_dst.h, the ...original_dst.local_ip and
// remote_ip keys), as connect_originate's does.
func buildZtunnelPods(ctx *plugin.SharedContext) (*plugin.SharedPiece, error) {
	sv, err := ctx.Shared(pieceZtunnelServices, buildZtunnelServices)
	if err != nil {
		return nil, err
	}
	bv, err := ctx.Shared(pieceWorkloadBindings, buildWorkloadBindings)
	if err != nil {
		return nil, err
	}
	serviceWaypoints, bindings := sv.([]model.ObjectRef), bv.(*workloadBindings)
	for _, d := range bindings.Problems {
		ctx.Report(d)
	}
	z := &meshScan{ctx: ctx, view: ctx.Model, wps: map[string]*ztWaypoint{}}
	for _, key := range sortedKeys(bindings.ByWaypoint) {
		ref := bindings.Gateways[key]
		w := z.waypoint(ref, ctx.Model.Waypoint(ref.Namespace, ref.Name))
		w.pods = bindings.ByWaypoint[key]
	}
	var podBound []*ztWaypoint
	podBound = append(podBound, z.waypoints...)
	for _, ref := range serviceWaypoints {
		z.waypoint(ref, ctx.Model.Waypoint(ref.Namespace, ref.Name))
	}
	z.sortWaypoints()
	sort.Slice(podBound, func(i, j int) bool { return podBound[i].ref.Key() < podBound[j].ref.Key() })

	// The pods by shard (podShard), and in each by where they go.
	type shard struct {
		prefix netip.Prefix
		direct []string
		byWP   map[*ztWaypoint][]string
	}
	shards := map[netip.Prefix]*shard{}
	shardOf := func(ip string) *shard {
		p, ok := podShard(ip)
		if !ok {
			return nil
		}
		if shards[p] == nil {
			shards[p] = &shard{prefix: p, byWP: map[*ztWaypoint][]string{}}
		}
		return shards[p]
	}
	for _, w := range podBound {
		for _, ip := range w.pods {
			if sh := shardOf(ip); sh != nil {
				sh.byWP[w] = append(sh.byWP[w], ip)
			}
		}
	}
	for _, ip := range bindings.Direct {
		if sh := shardOf(ip); sh != nil {
			sh.direct = append(sh.direct, ip)
		}
	}
	var order []*shard
	for _, sh := range shards {
		order = append(order, sh)
	}
	sort.Slice(order, func(i, j int) bool { return lessPrefix(order[i].prefix, order[j].prefix) })

	passthrough := toChain(ChainPassthrough)
	passthroughChain := func() *listenerv3.FilterChain {
		return chain(ChainPassthrough, tcpProxy(ChainPassthrough, ClusterPassthrough))
	}
	// The dispatcher: destination IP in a shard's prefix -> that shard.
	chains := []*listenerv3.FilterChain{passthroughChain()}
	var prefixes []prefixRange
	listeners := []*listenerv3.Listener{nil}
	var clusters []*clusterv3.Cluster
	for _, sh := range order {
		name := podsShardName(sh.prefix)
		chains = append(chains, chain(name, setFilterState(carryDestination(), carrySource()), tcpProxy(name, name)))
		prefixes = append(prefixes, prefixRange{prefix: sh.prefix, onMatch: toChain(name)})
		clusters = append(clusters, listenerCluster(name, name))

		// The shard: destination IP -> the pod's waypoint, or direct.
		shChains := []*listenerv3.FilterChain{passthroughChain()}
		var dst []ipRange
		for _, w := range podBound {
			if ips := sh.byWP[w]; len(ips) > 0 {
				shChains = append(shChains, waypointChain(w))
				dst = append(dst, ipRange{ips: ips, onMatch: toChain(w.chain)})
			}
		}
		if len(sh.direct) > 0 {
			shChains = append(shChains, chain(ChainDirect, setFilterState(carryDestination(), carrySource()), tcpProxy(ChainDirect, ClusterEncap)))
			dst = append(dst, ipRange{ips: sh.direct, onMatch: toChain(ChainDirect)})
		}
		l := internalListener(name, shChains)
		l.FilterChainMatcher = ipMatcher(inputDestinationIP(), dst, passthrough)
		listeners = append(listeners, l)
	}
	l := internalListener(ListenerZtunnelOutboundPods, chains)
	l.FilterChainMatcher = prefixMatcher(inputDestinationIP(), prefixes, passthrough)
	listeners[0] = l

	for _, w := range z.waypoints {
		clusters = append(clusters, waypointCluster(w))
	}
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].Name < clusters[j].Name })
	return &plugin.SharedPiece{Listeners: listeners, Clusters: clusters}, nil
}

// podShard is the shard of ztunnel_outbound_pods a pod address is in: its
// /24 (IPv4) or /120 (IPv6), 256 addresses. Kubernetes gives each node a
// pod range of such prefixes, so a pod joining the mesh changes the one
// shard listener of its range, a few KB, on every other node (and the
// dispatcher too only when it is the first pod of a new range).
func podShard(ip string) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 120
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// podsShardName names a shard's listener, its cluster and the
// dispatcher's chain to it: "ztunnel_outbound_pods|<prefix>".
func podsShardName(p netip.Prefix) string {
	return ListenerZtunnelOutboundPods + "|" + p.String()
}

func lessPrefix(a, b netip.Prefix) bool {
	if a.Addr() != b.Addr() {
		return a.Addr().Less(b.Addr())
	}
	return a.Bits() < b.Bits()
}

// waypointPodsKey names the piece holding the pods bound to a waypoint.
func waypointPodsKey(wp *model.Waypoint) string {
	return Name + "/waypoint-pods/" + wp.Namespace + "/" + wp.Name
}

// waypointPods builds the piece of one waypoint's bound pods: their IPs,
// sorted, with their own Revision.
func waypointPods(wp *model.Waypoint) plugin.SharedBuild {
	key := wp.Namespace + "/" + wp.Name
	return func(ctx *plugin.SharedContext) (*plugin.SharedPiece, error) {
		bv, err := ctx.Shared(pieceWorkloadBindings, buildWorkloadBindings)
		if err != nil {
			return nil, err
		}
		ips := append([]string(nil), bv.(*workloadBindings).ByWaypoint[key]...)
		sort.Slice(ips, func(i, j int) bool { return lessIP(ips[i], ips[j]) })
		return &plugin.SharedPiece{Value: ips, Revision: model.RevisionOf(ips)}, nil
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// serviceBindings is the Value of pieceServiceBindings: the hostnames of
// the services bound to each waypoint, by "<namespace>/<name>" of the
// waypoint, in the order of model.View.Services. Exported for
// model.RevisionOf.
type serviceBindings struct {
	ByWaypoint map[string][]string
}

// buildServiceBindings builds pieceServiceBindings.
func buildServiceBindings(ctx *plugin.SharedContext) (*plugin.SharedPiece, error) {
	v := &serviceBindings{ByWaypoint: map[string][]string{}}
	for _, svc := range ctx.Model.Services() {
		if b := ctx.Model.ServiceWaypoint(svc); b.Bound && b.Waypoint != nil {
			key := b.Waypoint.Namespace + "/" + b.Waypoint.Name
			v.ByWaypoint[key] = append(v.ByWaypoint[key], svc.Hostname)
		}
	}
	return &plugin.SharedPiece{Value: v, Revision: model.RevisionOf(v)}, nil
}

// waypointServicesKey names the piece holding the services bound to a
// waypoint.
func waypointServicesKey(wp *model.Waypoint) string {
	return Name + "/waypoint-services/" + wp.Namespace + "/" + wp.Name
}

// waypointServices builds the piece of one waypoint's bound services:
// their hostnames, in the order of model.View.Services, with their own
// Revision.
func waypointServices(wp *model.Waypoint) plugin.SharedBuild {
	key := wp.Namespace + "/" + wp.Name
	return func(ctx *plugin.SharedContext) (*plugin.SharedPiece, error) {
		bv, err := ctx.Shared(pieceServiceBindings, buildServiceBindings)
		if err != nil {
			return nil, err
		}
		hosts := append([]string{}, bv.(*serviceBindings).ByWaypoint[key]...)
		return &plugin.SharedPiece{Value: hosts, Revision: model.RevisionOf(hosts)}, nil
	}
}
