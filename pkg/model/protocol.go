package model

import "strings"

// Protocol is the application protocol of a service port, as aeraki's
// plugins claim it: "dubbo", "thrift", "redis", the name of a user-defined
// meta-protocol ("trpc", "brpc", ...), or one of the generic values below.
type Protocol string

// Protocols aeraki knows by name. Only HTTP and TCP mean something to the
// core (istiod programs them); the others are the names the builtin
// plugins claim, kept as constants for them. Any other value is a name
// some plugin may claim (DetectProtocolWith).
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
	// Source says which field decided: "appProtocol", "name", "protocol"
	// (a ServiceEntry port's) or "".
	Source string
}

// ProtocolClaims says whether a plugin owns a protocol name, which is how
// the model chooses between what a port's appProtocol and its name say.
// The plugin registry implements it; the model itself knows no plugin's
// protocol.
type ProtocolClaims interface {
	// ClaimsProtocol reports whether some plugin programs ports of p.
	ClaimsProtocol(p ProtocolInfo) bool
}

// DetectProtocol is DetectProtocolWith without claims: the first name the
// appProtocol or the port name spells wins.
func DetectProtocol(name, appProtocol string) ProtocolInfo {
	return DetectProtocolWith(nil, name, appProtocol)
}

// DetectProtocolWith applies aeraki's rule for the protocol of a service
// port. appProtocol and the port name are parsed lexically, appProtocol
// first, each into candidates:
//
//   - "tcp-metaprotocol-<name>[-<anything>]" (Aeraki's form): meta-protocol <name>
//   - "tcp-<name>[-<anything>]": protocol <name>, else opaque TCP
//   - "<name>[-<anything>]": protocol <name> ("dubbo-v2", "awesomerpc")
//   - Istio's generic names (http, http2, grpc, grpc-web, h2c, https, tcp,
//     tls, mongo, mysql) and Kubernetes' kubernetes.io/h2c, ws, wss
//
// The first candidate that is generic, or that claims says a plugin owns,
// is the port's protocol; none is ProtocolUnknown. With nil claims the
// first candidate wins. So which plugin owns "tcp-awesomerpc" or
// "appProtocol: awesomerpc" is decided by the registry alone, and an
// appProtocol no plugin claims falls back to the port name, as Istio
// falls back when it does not know an appProtocol.
func DetectProtocolWith(claims ProtocolClaims, name, appProtocol string) ProtocolInfo {
	return detect(claims, source{"appProtocol", appProtocol}, source{"name", name})
}

// source is one field a port's protocol can be read from.
type source struct{ field, value string }

func detect(claims ProtocolClaims, sources ...source) ProtocolInfo {
	for _, src := range sources {
		for _, c := range candidates(src.value) {
			if claims == nil || c.generic() || claims.ClaimsProtocol(c) {
				c.Source = src.field
				return c
			}
		}
	}
	return ProtocolInfo{}
}

// generic reports whether p is one of the protocols istiod programs
// (HTTP, opaque TCP), which no plugin needs to claim.
func (p ProtocolInfo) generic() bool {
	return !p.Meta && (p.Protocol == ProtocolHTTP || p.Protocol == ProtocolTCP)
}

// candidates parses one field into the protocols it may mean, most
// specific first.
func candidates(s string) []ProtocolInfo {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return nil
	}
	switch s {
	case "kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss":
		return []ProtocolInfo{{Protocol: ProtocolHTTP}}
	}
	if strings.Contains(s, "/") {
		return nil // another domain's appProtocol
	}
	first, _, _ := strings.Cut(s, "-")
	switch first {
	case "http", "http2", "grpc", "h2c", "https":
		return []ProtocolInfo{{Protocol: ProtocolHTTP}}
	case "tls", "mongo", "mysql":
		return []ProtocolInfo{{Protocol: ProtocolTCP}}
	case "tcp":
		rest, ok := strings.CutPrefix(s, "tcp-")
		if !ok || rest == "" {
			return []ProtocolInfo{{Protocol: ProtocolTCP}}
		}
		return append(candidates(rest), ProtocolInfo{Protocol: ProtocolTCP})
	case "metaprotocol":
		m := strings.TrimPrefix(strings.TrimPrefix(s, "metaprotocol"), "-")
		name, _, _ := strings.Cut(m, "-")
		if name == "" {
			return []ProtocolInfo{{Protocol: ProtocolTCP}}
		}
		return []ProtocolInfo{{Protocol: Protocol(name), Meta: true}}
	}
	return []ProtocolInfo{{Protocol: Protocol(first)}}
}
