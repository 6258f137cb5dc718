package istiodwaypoint

import (
	"strconv"
	"strings"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Names istiod gives the parts of a waypoint's config (see the package
// doc for where each is built).
const (
	// GatewayClass is the class of the Gateways istiod deploys and serves as waypoints.
	GatewayClass = model.IstioWaypointClass
	// MainInternal is the internal listener holding the per-service chains.
	MainInternal = "main_internal"
	// ConnectTerminate is the HBONE listener (port 15008) that terminates
	// the tunnel and hands the connection to MainInternal.
	ConnectTerminate = "connect_terminate"
	// ConnectOriginate is the internal listener that tunnels to the endpoint.
	ConnectOriginate = "connect_originate"
	// DirectTCPChain and DirectHTTPChain take traffic addressed to a
	// bound workload's own IP rather than to a service.
	DirectTCPChain  = "direct-tcp"
	DirectHTTPChain = "direct-http"
	// TCPProxyFilter is the terminal filter of a TCP chain, which a patch replaces.
	TCPProxyFilter = "envoy.filters.network.tcp_proxy"
	// MetadataExchangeFilter is the filter istiod puts before tcp_proxy in
	// a TCP chain; patches leave it in place.
	MetadataExchangeFilter = "istio.metadata_exchange"
	// HBONEPort is the port of ConnectTerminate.
	HBONEPort = 15008

	// direction is model.TrafficDirectionInboundVIP in istiod.
	direction = "inbound-vip"
	// tcpSubset is the "subset" part of TCP chain and cluster names.
	tcpSubset = "tcp"
)

// ChainName is the name of the main_internal chain istiod builds for a
// TCP service port: "inbound-vip|<port>|tcp|<host>". It is also the name
// of the chain's cluster (istiod names the chain after it).
func ChainName(host string, port uint32) string {
	return model.ClusterName(direction, port, tcpSubset, host)
}

// HTTPChainName is the chain istiod builds for an HTTP (or sniffed) port:
// "inbound-vip|<port>|http|<host>". aeraki never patches it.
func HTTPChainName(host string, port uint32) string {
	return model.ClusterName(direction, port, "http", host)
}

// ClusterName is the waypoint cluster istiod builds for a TCP service
// port and subset: "inbound-vip|<port>|tcp|<host>" without a subset,
// "inbound-vip|<port>|tcp/<subset>|<host>" for a DestinationRule subset.
func ClusterName(host string, port uint32, subset string) string {
	s := tcpSubset
	if subset != "" {
		s += "/" + subset
	}
	return model.ClusterName(direction, port, s, host)
}

// NodeID is the node id istio-agent gives a waypoint pod's Envoy
// ("waypoint~<ip>~<pod>.<ns>~<ns>.svc.cluster.local"): istiod serves a
// proxy as a waypoint only when its id starts with "waypoint~"
// (pilot/pkg/model/context.go, ParseServiceNodeWithMetadata).
func NodeID(ip, pod, namespace, domainSuffix string) string {
	return "waypoint~" + ip + "~" + pod + "." + namespace + "~" + namespace + ".svc." + domainSuffix
}

// ParseClusterName reads a cluster name ClusterName makes: host, port and
// subset ("" for the port's own cluster); ok is false for any other name.
func ParseClusterName(name string) (host string, port uint32, subset string, ok bool) {
	parts := strings.SplitN(name, "|", 4)
	if len(parts) != 4 || parts[0] != direction || parts[3] == "" {
		return "", 0, "", false
	}
	p, err := strconv.ParseUint(parts[1], 10, 16)
	if err != nil || p == 0 {
		return "", 0, "", false
	}
	switch rest, found := strings.CutPrefix(parts[2], tcpSubset+"/"); {
	case parts[2] == tcpSubset:
		return parts[3], uint32(p), "", true
	case found && rest != "":
		return parts[3], uint32(p), rest, true
	}
	return "", 0, "", false
}
