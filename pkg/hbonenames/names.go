package hbonenames

import (
	"fmt"
	"strings"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Ports of the ambient data plane, as Istio fixes them.
const (
	// PortHBONE is where ztunnels and waypoints accept HBONE (mTLS HTTP/2 CONNECT).
	PortHBONE = 15008
	// PortOutbound is where a ztunnel receives the captured outbound
	// connections of its node's pods.
	PortOutbound = 15001
	// PortInboundPlaintext is where a ztunnel receives captured plaintext
	// connections to its node's pods from outside the mesh.
	PortInboundPlaintext = 15006
)

// Listener names. Istio's names are kept so operators recognise them in
// config dumps.
const (
	// ListenerZtunnelOutbound captures the node's pods' outbound connections.
	ListenerZtunnelOutbound = "ztunnel_outbound"
	// ListenerZtunnelOutboundPods is the ztunnel's internal listener for
	// outbound connections addressed to no service: it picks, by
	// destination IP, how to reach a mesh pod (through its waypoint, or
	// straight over HBONE), else passes the connection through. It is the
	// same on every node, so a pod added to the mesh changes only it.
	ListenerZtunnelOutboundPods = "ztunnel_outbound_pods"
	// ListenerZtunnelOutboundServices is the ztunnel's internal listener
	// for its node's pods' outbound connections: by destination IP, a
	// service address goes to the service's chain (or its waypoint's),
	// anything else to ListenerZtunnelOutboundPods. It is the same on
	// every node, so a service added to the mesh changes only it.
	ListenerZtunnelOutboundServices = "ztunnel_outbound_services"
	// ListenerZtunnelInbound terminates HBONE for the node's pods.
	ListenerZtunnelInbound = "ztunnel_inbound"
	// ListenerZtunnelInboundPlaintext accepts plaintext for the node's pods.
	ListenerZtunnelInboundPlaintext = "ztunnel_inbound_plaintext"
	// ListenerConnectOriginate is the internal listener that opens HBONE
	// tunnels (on a ztunnel: with the source pod's identity).
	ListenerConnectOriginate = "connect_originate"
	// ListenerPlaintextOriginate is the ztunnel's internal listener for
	// service endpoints outside the mesh: plain TCP to the endpoint.
	ListenerPlaintextOriginate = "plaintext_originate"
	// ListenerConnectTerminate is the waypoint's HBONE listener.
	ListenerConnectTerminate = "connect_terminate"
	// ListenerMainInternal is the waypoint's internal listener with one
	// chain per bound service port.
	ListenerMainInternal = "main_internal"
)

// Cluster names shared by both roles.
const (
	// ClusterPassthrough sends a connection on to its original destination, unproxied.
	ClusterPassthrough = "PassthroughCluster"
	// ClusterBlackHole has no endpoints: connections to it fail.
	ClusterBlackHole = "BlackHoleCluster"
	// ClusterEncap is a single internal endpoint: the connect_originate listener.
	ClusterEncap = "encap"
	// ClusterZtunnelOutboundPods is a single internal endpoint: the
	// ztunnel_outbound_pods listener.
	ClusterZtunnelOutboundPods = "ztunnel_outbound_pods"
	// ClusterZtunnelOutboundServices is a single internal endpoint: the
	// ztunnel_outbound_services listener.
	ClusterZtunnelOutboundServices = "ztunnel_outbound_services"
	// ClusterMainInternal is a single internal endpoint: the main_internal listener.
	ClusterMainInternal = "main_internal"
	// ClusterConnectOriginate is the waypoint's HBONE cluster (ORIGINAL_DST, port 15008).
	ClusterConnectOriginate = "connect_originate"
	// ClusterInboundDeliver delivers a ztunnel's inbound connections to the local pod.
	ClusterInboundDeliver = "ztunnel_inbound_deliver"
)

// Names of ztunnel filter chains that are not per service or per pod.
const (
	// ChainPassthrough forwards unknown sources and destinations unproxied.
	ChainPassthrough = "passthrough"
	// ChainLoopGuard drops connections addressed to the ztunnel's own
	// outbound port, which would otherwise loop.
	ChainLoopGuard = "loop_guard"
	// ChainToPods hands a connection addressed to no service on to the
	// ztunnel_outbound_pods listener.
	ChainToPods = "to_pods"
	// ChainToServices hands a connection of one of the node's pods on to
	// the ztunnel_outbound_services listener.
	ChainToServices = "to_services"
	// ChainDirect tunnels to a mesh pod addressed by its own IP.
	ChainDirect = "direct"
	// ChainInboundPlaintext delivers captured plaintext to a local pod.
	ChainInboundPlaintext = "inbound_plaintext"
	// ChainDirectTCP is the waypoint's chain for workload-addressed traffic.
	ChainDirectTCP = "direct-tcp"
	// ChainBlackHole refuses every connection.
	ChainBlackHole = "blackhole"
)

// Well-known keys of Envoy's filter state and metadata the hbone plugin relies on.
const (
	// MetadataOriginalDst is the endpoint (and connection) metadata
	// namespace the original_dst listener filter reads on internal
	// listeners: field "local" is the destination to restore.
	MetadataOriginalDst = "envoy.filters.listener.original_dst"
	// MetadataFieldLocal is the original destination, "ip:port".
	MetadataFieldLocal = "local"
	// MetadataFieldWaypoint, when set, is where ORIGINAL_DST tunnel
	// clusters send the HBONE connection instead ("ip:15008").
	MetadataFieldWaypoint = "waypoint"
	// FilterStateLocalIP restores the destination address on an internal listener.
	FilterStateLocalIP = "envoy.filters.listener.original_dst.local_ip"
	// FilterStateRemoteIP restores the source address on an internal listener.
	FilterStateRemoteIP = "envoy.filters.listener.original_dst.remote_ip"
	// FilterStateOriginalDstAddress picks the host of an ORIGINAL_DST cluster.
	FilterStateOriginalDstAddress = "envoy.network.transport_socket.original_dst_address"
)

// SDS names: workload certificates are named by SPIFFE id; the trust
// bundle is ROOTCA, as Istio's node agents serve them.
const (
	// SecretRootCA is the SDS name of the mesh's trust bundle.
	SecretRootCA = "ROOTCA"
	// SDSCluster is the bootstrap cluster of the node's SDS server.
	SDSCluster = "sds-grpc"
)

// ZtunnelID is the proxy id of the ztunnel on a node.
func ZtunnelID(node string) string { return string(plugin.ProxyKindZtunnel) + "/" + node }

// WaypointID is the proxy id of a waypoint Gateway.
func WaypointID(namespace, name string) string {
	return string(plugin.ProxyKindWaypoint) + "/" + namespace + "/" + name
}

// ParseID splits a proxy id into its kind and parts: [node] for a
// ztunnel, [namespace, name] for a waypoint.
func ParseID(id string) (plugin.ProxyKind, []string, error) {
	parts := strings.Split(id, "/")
	switch {
	case len(parts) == 2 && parts[0] == string(plugin.ProxyKindZtunnel) && parts[1] != "":
		return plugin.ProxyKindZtunnel, parts[1:], nil
	case len(parts) == 3 && parts[0] == string(plugin.ProxyKindWaypoint) && parts[1] != "" && parts[2] != "":
		return plugin.ProxyKindWaypoint, parts[1:], nil
	}
	return "", nil, fmt.Errorf("proxy id %q: write ztunnel/<node> or waypoint/<namespace>/<name>", id)
}
