package hbone

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// originateListener is the ztunnel's connect_originate: an internal
// listener every HBONE tunnel starts from. Its original_dst filter
// restores the target (from the endpoint's metadata, else from filter
// state) and the source pod's address (from filter state); the
// filter_chain_matcher picks, by source IP, the chain of the source's
// identity, whose cluster presents that identity's certificate. One chain
// and one cluster per local identity.
func (z *ztunnel) originateListener() *listenerv3.Listener {
	var chains []*listenerv3.FilterChain
	var ranges []ipRange
	for _, id := range z.identities {
		name := originateName(id.spiffe)
		chains = append(chains, chain(name, tunnelProxy(name, name)))
		ranges = append(ranges, ipRange{ips: id.ips, onMatch: toChain(name)})
	}
	if len(chains) == 0 {
		return internalListener(ListenerConnectOriginate, []*listenerv3.FilterChain{chain(ChainBlackHole, tcpProxy(ChainBlackHole, ClusterBlackHole))})
	}
	l := internalListener(ListenerConnectOriginate, chains)
	l.FilterChainMatcher = ipMatcher(inputSourceIP(), ranges, nil)
	return l
}

// originateName names the chain and cluster of one identity's tunnels.
func originateName(spiffe string) string { return ClusterConnectOriginate + "|" + spiffe }

// tunnelCluster opens HBONE as one identity: an ORIGINAL_DST cluster that
// connects to the restored destination's IP on port 15008, or to the
// waypoint named in the connection's original_dst metadata, over mTLS
// with the identity's certificate and HTTP/2 CONNECT.
func (z *ztunnel) tunnelCluster(spiffe string) *clusterv3.Cluster {
	c := hboneCluster(originateName(spiffe), spiffe, z.td)
	c.LbConfig = &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
		UpstreamPortOverride: wrapperspb.UInt32(PortHBONE),
		MetadataKey: &metadatav3.MetadataKey{Key: MetadataOriginalDst, Path: []*metadatav3.MetadataKey_PathSegment{{
			Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: MetadataFieldWaypoint},
		}}},
	}}
	return c
}

// hboneCluster is an ORIGINAL_DST cluster speaking HBONE as identity to
// port 15008 of the restored destination.
func hboneCluster(name, identity, trustDomain string) *clusterv3.Cluster {
	c := originalDstCluster(name)
	c.LbConfig = &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
		UpstreamPortOverride: wrapperspb.UInt32(PortHBONE),
	}}
	c.TransportSocket = clientTLS(identity, trustDomain)
	c.TypedExtensionProtocolOptions = h2Connect()
	return c
}

// plaintextOriginateListener carries connections to service endpoints
// outside the mesh in plaintext, to the destination in the endpoint's metadata.
func plaintextOriginateListener() *listenerv3.Listener {
	return internalListener(ListenerPlaintextOriginate, []*listenerv3.FilterChain{
		chain(ChainPassthrough, tcpProxy(ListenerPlaintextOriginate, ClusterPassthrough)),
	})
}
