package hbone

import (
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// outboundListener is ztunnel_outbound on 15001, where the node's pods'
// outbound connections are redirected. Its filter_chain_matcher is a tree:
//
//	destination port 15001           -> loop_guard (a connection to ztunnel itself)
//	source IP in the node's pods     -> destination IP:
//	    VIP of a direct service      -> destination port -> outbound|<port>||<host>
//	    VIP bound to a waypoint      -> to-waypoint|<ns>/<name>
//	    anything else                -> to_pods: ztunnel_outbound_pods
//	anything else                    -> passthrough
//
// ztunnel_outbound_pods (shared.go), the same on every node, goes on by
// destination IP: a pod bound to a waypoint to the waypoint, any other
// mesh pod straight over HBONE (direct), the rest passes through. Pod
// addresses live there, not here, so that a pod joining the mesh changes
// that one small listener on the other nodes instead of this one.
//
// Every chain is shared by all sources: the source's identity is picked
// later, in connect_originate, from the source address this listener
// hands on in filter state. The service chains and matcher entries come
// from the shared piece of the mesh's services.
func (z *ztunnel) outboundListener() *listenerv3.Listener {
	passthrough := toChain(ChainPassthrough)
	toPods := toChain(ChainToPods)
	chains := []*listenerv3.FilterChain{
		chain(ChainPassthrough, tcpProxy(ChainPassthrough, ClusterPassthrough)),
		chain(ChainLoopGuard, tcpProxy(ChainLoopGuard, ClusterBlackHole)),
		chain(ChainToPods, setFilterState(carryDestination(), carrySource()), tcpProxy(ChainToPods, ClusterZtunnelOutboundPods)),
	}
	chains = append(chains, z.mesh.chains...)
	var sources []string
	for _, w := range z.local {
		sources = append(sources, w.IP)
	}
	byDestination := ipMatcher(inputDestinationIP(), z.mesh.ranges, toPods)
	bySource := ipMatcher(inputSourceIP(), []ipRange{{ips: sources, onMatch: orChain(byDestination, toPods)}}, passthrough)
	l := portListener(ListenerZtunnelOutbound, PortOutbound, chains)
	l.FilterChainMatcher = portMatcher(inputDestinationPort(),
		map[uint32]*xdsmatcher.Matcher_OnMatch{PortOutbound: toChain(ChainLoopGuard)}, orChain(bySource, passthrough))
	return l
}
