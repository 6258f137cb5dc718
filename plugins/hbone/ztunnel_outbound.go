package hbone

import (
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// outboundListener is ztunnel_outbound on 15001, where the node's pods'
// outbound connections are redirected. Its filter_chain_matcher is a tree:
//
//	destination port 15001           -> loop_guard (a connection to ztunnel itself)
//	source IP in the node's pods     -> to_services: ztunnel_outbound_services
//	anything else                    -> passthrough
//
// It holds nothing of the mesh but the node's own pods. The mesh's
// addresses are in two internal listeners every ztunnel includes as
// they are (shared.go): ztunnel_outbound_services goes on by destination
// IP (a service address to the service's chain, or its waypoint's), and
// hands what is addressed to no service to ztunnel_outbound_pods, which
// goes on by destination IP to a mesh pod (through its waypoint or
// straight over HBONE), else passes it through. So a service or a pod
// added to the mesh changes those small listeners, not this one, and no
// node's build runs again. The cost is one internal listener hop for
// every connection a pod opens (docs/ambient.md).
//
// to_services hands the original destination and the source on in filter
// state: the source's identity is picked later, in connect_originate,
// from the source address.
func (z *ztunnel) outboundListener() *listenerv3.Listener {
	passthrough := toChain(ChainPassthrough)
	chains := []*listenerv3.FilterChain{
		chain(ChainPassthrough, tcpProxy(ChainPassthrough, ClusterPassthrough)),
		chain(ChainLoopGuard, tcpProxy(ChainLoopGuard, ClusterBlackHole)),
		chain(ChainToServices, setFilterState(carryDestination(), carrySource()), tcpProxy(ChainToServices, ClusterZtunnelOutboundServices)),
	}
	var sources []string
	for _, w := range z.local {
		sources = append(sources, w.IP)
	}
	bySource := ipMatcher(inputSourceIP(), []ipRange{{ips: sources, onMatch: toChain(ChainToServices)}}, passthrough)
	l := portListener(ListenerZtunnelOutbound, PortOutbound, chains)
	l.FilterChainMatcher = portMatcher(inputDestinationPort(),
		map[uint32]*xdsmatcher.Matcher_OnMatch{PortOutbound: toChain(ChainLoopGuard)}, orChain(bySource, passthrough))
	return l
}
