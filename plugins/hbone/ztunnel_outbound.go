package hbone

import (
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// outboundListener is ztunnel_outbound on 15001, where the node's pods'
// outbound connections are redirected. Its filter_chain_matcher is a tree:
//
//	destination port 15001          -> loop_guard (a connection to ztunnel itself)
//	source IP in the node's pods    -> destination IP:
//	    VIP of a direct service     -> destination port -> outbound|<port>||<host>
//	    VIP or pod bound to waypoint -> to-waypoint|<ns>/<name>
//	    any other mesh pod IP       -> direct
//	anything else                   -> passthrough
//
// Every chain is shared by all sources: the source's identity is picked
// later, in connect_originate, from the source address this listener
// hands on in filter state.
func (z *ztunnel) outboundListener() *listenerv3.Listener {
	passthrough := toChain(ChainPassthrough)
	chains := []*listenerv3.FilterChain{
		chain(ChainPassthrough, tcpProxy(ChainPassthrough, ClusterPassthrough)),
		chain(ChainLoopGuard, tcpProxy(ChainLoopGuard, ClusterBlackHole)),
	}
	var dst []ipRange
	for _, s := range z.services {
		ports := map[uint32]*xdsmatcher.Matcher_OnMatch{}
		for _, p := range s.ports {
			ports[p.port.Number] = toChain(p.name)
			chains = append(chains, chain(p.name, setFilterState(carrySource()), tcpProxy(p.name, p.name)))
		}
		dst = append(dst, ipRange{ips: s.svc.Addresses, onMatch: orChain(portMatcher(inputDestinationPort(), ports, passthrough), passthrough)})
	}
	for _, w := range z.waypoints {
		chains = append(chains, chain(w.chain, setFilterState(carryDestination(), carrySource()), tcpProxy(w.chain, w.cluster)))
		dst = append(dst, ipRange{ips: append(append([]string(nil), w.vips...), w.pods...), onMatch: toChain(w.chain)})
	}
	if len(z.direct) > 0 {
		chains = append(chains, chain(ChainDirect, setFilterState(carryDestination(), carrySource()), tcpProxy(ChainDirect, ClusterEncap)))
		dst = append(dst, ipRange{ips: z.direct, onMatch: toChain(ChainDirect)})
	}
	var sources []string
	for _, w := range z.local {
		sources = append(sources, w.IP)
	}
	byDestination := ipMatcher(inputDestinationIP(), dst, passthrough)
	bySource := ipMatcher(inputSourceIP(), []ipRange{{ips: sources, onMatch: orChain(byDestination, passthrough)}}, passthrough)
	l := portListener(ListenerZtunnelOutbound, PortOutbound, chains)
	l.FilterChainMatcher = portMatcher(inputDestinationPort(),
		map[uint32]*xdsmatcher.Matcher_OnMatch{PortOutbound: toChain(ChainLoopGuard)}, orChain(bySource, passthrough))
	return l
}
