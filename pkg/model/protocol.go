package model

import "strings"

// Protocol is the application protocol of a service port, as aeraki's
// plugins claim it: "dubbo", "thrift", "redis", the name of a user-defined
// meta-protocol ("trpc", "brpc", ...), or one of the generic values below.
type Protocol string

// Protocols aeraki knows by name. Any other non-empty value is the name of a
// meta-protocol (tcp-metaprotocol-<name>), usually described by an
// ApplicationProtocol object.
const (
	// ProtocolUnknown is a port whose name and appProtocol say nothing.
	ProtocolUnknown Protocol = ""
	// ProtocolTCP is opaque TCP: the waypoint and sidecars proxy it at L4.
	ProtocolTCP Protocol = "tcp"
	// ProtocolHTTP covers HTTP/1, HTTP/2 and gRPC ports, which istiod owns.
	ProtocolHTTP Protocol = "http"
	// ProtocolDubbo is Apache Dubbo's binary protocol.
	ProtocolDubbo Protocol = "dubbo"
	// ProtocolThrift is Apache Thrift.
	ProtocolThrift Protocol = "thrift"
	// ProtocolRedis is the Redis serialization protocol.
	ProtocolRedis Protocol = "redis"
)

// ProtocolInfo is what a port's name or appProtocol says about its traffic.
type ProtocolInfo struct {
	// Protocol is the detected protocol.
	Protocol Protocol
	// Meta is true for ports named tcp-metaprotocol-<name> (or an appProtocol
	// of the same form): Aeraki routes those with MetaRouters only, while
	// plain tcp-dubbo ports also honour VirtualServices.
	Meta bool
	// Source says which field decided: "appProtocol", "name" or "".
	Source string
}

// DetectProtocol applies aeraki's rule for the protocol of a service port:
// appProtocol first, else the port-name prefix. Names are matched the way
// Istio and Aeraki users write them: "tcp-dubbo", "dubbo", "dubbo-v2",
// "tcp-thrift", "tcp-redis", "tcp-metaprotocol-<name>" and
// "tcp-metaprotocol-<name>-<anything>".
func DetectProtocol(name, appProtocol string) ProtocolInfo {
	if appProtocol != "" {
		if p := parseProtocolName(appProtocol); p.Protocol != ProtocolUnknown {
			p.Source = "appProtocol"
			return p
		}
	}
	p := parseProtocolName(name)
	if p.Protocol != ProtocolUnknown {
		p.Source = "name"
	}
	return p
}

func parseProtocolName(s string) ProtocolInfo {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ProtocolInfo{}
	}
	// Kubernetes' well-known appProtocol values.
	switch s {
	case "kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss":
		return ProtocolInfo{Protocol: ProtocolHTTP}
	}
	rest := strings.TrimPrefix(s, "tcp-")
	if m, ok := strings.CutPrefix(rest, "metaprotocol-"); ok {
		name, _, _ := strings.Cut(m, "-")
		if name == "" {
			return ProtocolInfo{Protocol: ProtocolTCP}
		}
		return ProtocolInfo{Protocol: Protocol(name), Meta: true}
	}
	first, _, _ := strings.Cut(rest, "-")
	switch first {
	case "dubbo":
		return ProtocolInfo{Protocol: ProtocolDubbo}
	case "thrift":
		return ProtocolInfo{Protocol: ProtocolThrift}
	case "redis":
		return ProtocolInfo{Protocol: ProtocolRedis}
	case "http", "http2", "grpc", "grpc-web", "h2c":
		return ProtocolInfo{Protocol: ProtocolHTTP}
	}
	first, _, _ = strings.Cut(s, "-")
	switch first {
	case "tcp", "tls", "mongo", "mysql":
		return ProtocolInfo{Protocol: ProtocolTCP}
	case "http", "http2", "grpc", "https":
		return ProtocolInfo{Protocol: ProtocolHTTP}
	}
	return ProtocolInfo{}
}
