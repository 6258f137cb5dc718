package hbone

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
)

// inboundListener is ztunnel_inbound on 15008: HBONE for the node's pods.
// One chain per local pod, chosen by destination IP, terminates mTLS with
// that pod's certificate (a client certificate is required), accepts
// CONNECT only for the pod's own IP (any port) and delivers the stream to
// the :authority, which becomes the ORIGINAL_DST cluster's host.
func (z *ztunnel) inboundListener() *listenerv3.Listener {
	var chains []*listenerv3.FilterChain
	var ranges []ipRange
	for _, w := range z.local {
		name := "inbound|" + w.Namespace + "/" + w.Name
		deliver := []*sfsvaluev3.FilterStateValue{localValue(FilterStateOriginalDstAddress, formatAuthority)}
		c := chain(name, connectTerminate("inbound_hbone", name, []string{authorityDomain(w.IP)}, ClusterInboundDeliver, deliver))
		c.TransportSocket = serverTLS(z.view.Identity(w), z.td)
		chains = append(chains, c)
		ranges = append(ranges, ipRange{ips: []string{w.IP}, onMatch: toChain(name)})
	}
	if len(chains) == 0 {
		return portListener(ListenerZtunnelInbound, PortHBONE, []*listenerv3.FilterChain{chain(ChainBlackHole, tcpProxy(ChainBlackHole, ClusterBlackHole))})
	}
	l := portListener(ListenerZtunnelInbound, PortHBONE, chains)
	l.FilterChainMatcher = ipMatcher(inputDestinationIP(), ranges, nil)
	return l
}

// inboundPlaintextListener is ztunnel_inbound_plaintext on 15006: plain
// connections to the node's pods from outside the mesh, delivered as they are.
func (z *ztunnel) inboundPlaintextListener() *listenerv3.Listener {
	var ips []string
	for _, w := range z.local {
		ips = append(ips, w.IP)
	}
	c := chain(ChainInboundPlaintext, tcpProxy(ChainInboundPlaintext, ClusterInboundDeliver))
	m := ipMatcher(inputDestinationIP(), []ipRange{{ips: ips, onMatch: toChain(ChainInboundPlaintext)}}, nil)
	if m == nil {
		c = chain(ChainBlackHole, tcpProxy(ChainBlackHole, ClusterBlackHole))
	}
	l := portListener(ListenerZtunnelInboundPlaintext, PortInboundPlaintext, []*listenerv3.FilterChain{c})
	l.FilterChainMatcher = m
	return l
}
