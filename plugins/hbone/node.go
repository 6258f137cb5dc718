package hbone

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/aeraki-ng/aeraki/pkg/hbonenames"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// How a connecting Envoy says what it is. The node id is the primary
// convention:
//
//	ztunnel/<node>            an Envoy ztunnel on Kubernetes node <node>
//	waypoint/<ns>/<name>      an Envoy waypoint for Gateway <ns>/<name>
//
// Proxies whose id is set by something else (istio-agent sets ids like
// "router~10.0.0.1~pod.ns~ns.svc.cluster.local") say it in node metadata
// instead: AERAKI_PROXY is "ztunnel" or "waypoint"; a ztunnel adds
// NODE_NAME; a waypoint adds NAMESPACE and either GATEWAY_NAME or the
// LABELS map with gateway.networking.k8s.io/gateway-name, which istio-agent
// fills from the waypoint pod's labels.
const (
	// MetadataProxy is the node metadata key naming the proxy kind.
	MetadataProxy = "AERAKI_PROXY"
	// MetadataNodeName is the Kubernetes node of a ztunnel.
	MetadataNodeName = "NODE_NAME"
	// MetadataNamespace is the namespace of a waypoint's Gateway.
	MetadataNamespace = "NAMESPACE"
	// MetadataGatewayName is the name of a waypoint's Gateway.
	MetadataGatewayName = "GATEWAY_NAME"
	// MetadataLabels holds the proxy pod's labels (istio-agent's LABELS).
	MetadataLabels = "LABELS"
)

// ZtunnelID is hbonenames.ZtunnelID: the proxy id of the ztunnel on a node.
func ZtunnelID(node string) string { return hbonenames.ZtunnelID(node) }

// WaypointID is hbonenames.WaypointID: the proxy id of a waypoint Gateway.
func WaypointID(namespace, name string) string { return hbonenames.WaypointID(namespace, name) }

// ParseID is hbonenames.ParseID.
func ParseID(id string) (plugin.ProxyKind, []string, error) { return hbonenames.ParseID(id) }

// MatchNode implements plugin.ProxyBuilder with the convention above.
func (p *Plugin) MatchNode(node *corev3.Node) (string, bool) {
	if node == nil {
		return "", false
	}
	if _, _, err := ParseID(node.GetId()); err == nil {
		return node.GetId(), true
	}
	md := node.GetMetadata().GetFields()
	str := func(k string) string { return md[k].GetStringValue() }
	switch str(MetadataProxy) {
	case string(plugin.ProxyKindZtunnel):
		if n := str(MetadataNodeName); n != "" {
			return ZtunnelID(n), true
		}
	case string(plugin.ProxyKindWaypoint):
		name := str(MetadataGatewayName)
		if name == "" {
			name = md[MetadataLabels].GetStructValue().GetFields()[model.LabelGatewayName].GetStringValue()
		}
		if ns := str(MetadataNamespace); ns != "" && name != "" {
			return WaypointID(ns, name), true
		}
	}
	return "", false
}
