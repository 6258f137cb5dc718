package istiodwaypoint

import (
	"fmt"
	"strings"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// PortKind is how istiod's waypoint treats a service port in main_internal.
type PortKind int

const (
	// PortTCP ports get the one TCP chain ChainName names, which aeraki's
	// patch replaces: every connection to the port runs the plugin's filter.
	PortTCP PortKind = iota + 1
	// PortSniffed ports (a protocol istiod does not know) get a TCP and an
	// HTTP chain, and Envoy's HTTP inspector picks one per connection:
	// aeraki's patch applies only to connections that do not look like
	// HTTP, and the inspector waits for the client's first bytes.
	PortSniffed
	// PortHTTP ports get only the HTTP chain: aeraki's patch matches nothing.
	PortHTTP
)

// String names the kind as the warnings do.
func (k PortKind) String() string {
	switch k {
	case PortTCP:
		return "TCP"
	case PortSniffed:
		return "sniffed"
	case PortHTTP:
		return "HTTP"
	}
	return "unknown"
}

// wellKnownTCPPorts are the ports istiod treats as TCP when the protocol
// is unknown (pkg/config/kube/conversion.go, wellKnownPorts: SMTP, DNS,
// MySQL, MongoDB).
var wellKnownTCPPorts = map[uint32]bool{25: true, 53: true, 3306: true, 27017: true}

// istioProtocols is pkg/config/protocol/instance.go's Parse (lower-cased
// names) with IsTCP / IsHTTP applied: true for the protocols whose port
// gets a TCP chain in the waypoint, false for the HTTP ones. UDP ports
// are not in main_internal and never reach aeraki's plugins.
var istioProtocols = map[string]bool{
	"tcp": true, "https": true, "tls": true, "mongo": true, "redis": true, "mysql": true,
	"http": false, "http2": false, "http_proxy": false, "grpc": false, "grpc-web": false,
}

// Classify says how istiod's waypoint treats a service port. A
// ServiceEntry's port is read from its protocol field alone, as a whole
// (pilot/pkg/serviceregistry/serviceentry/conversion.go, convertPort:
// protocol.Parse(port.Protocol)); a Kubernetes Service's port
// following ConvertProtocol: appProtocol when set (kubernetes.io/h2c and
// kubernetes.io/ws are HTTP, kubernetes.io/wss HTTPS), else the port name; a
// "grpc-web" prefix is gRPC-Web; otherwise the part before the first '-'
// is parsed, and an unknown name is sniffed except on the well-known TCP
// ports. It returns the name istiod parsed, for messages.
func Classify(svc *model.Service, p *model.Port) (PortKind, string) {
	if svc != nil && svc.Ref.Kind == "ServiceEntry" {
		return kindOf(p.DeclaredProtocol, false), p.DeclaredProtocol
	}
	name := p.Name
	if p.AppProtocol != "" {
		name = p.AppProtocol
		// Kubernetes' standard appProtocol values, handled before the name rules.
		switch name {
		case "kubernetes.io/h2c", "kubernetes.io/ws":
			return PortHTTP, name
		case "kubernetes.io/wss":
			return PortTCP, name // HTTPS: TLS, proxied at L4
		}
	}
	if len(name) >= len("grpc-web") && strings.EqualFold(name[:len("grpc-web")], "grpc-web") {
		return PortHTTP, name
	}
	first, _, _ := strings.Cut(name, "-")
	return kindOf(first, wellKnownTCPPorts[p.Number]), name
}

// kindOf is protocol.Parse of a protocol name with IsTCP / IsHTTP applied;
// an unknown name is sniffed unless wellKnown.
func kindOf(name string, wellKnown bool) PortKind {
	tcp, known := istioProtocols[strings.ToLower(name)]
	switch {
	case known && tcp:
		return PortTCP
	case known:
		return PortHTTP
	case wellKnown:
		return PortTCP
	}
	return PortSniffed
}

// PortProblem explains, for an operator, why aeraki's patch for a port
// would not apply to every connection on an istiod waypoint, or "" when
// the port is TCP to istiod.
func PortProblem(svc *model.Service, p *model.Port) string {
	kind, name := Classify(svc, p)
	field, fix := "name", "name it tcp-<protocol> (for example tcp-dubbo) or set appProtocol: tcp"
	switch {
	case svc != nil && svc.Ref.Kind == "ServiceEntry":
		field, fix = "protocol", "set protocol: TCP"
	case p.AppProtocol != "":
		field = "appProtocol"
	}
	switch {
	case kind == PortSniffed && name == "":
		return fmt.Sprintf("port %s has no %s, so istiod's waypoint sniffs it (HTTP inspector): connections that look like HTTP skip the protocol filter; %s", p, field, fix)
	case kind == PortSniffed:
		return fmt.Sprintf("port %s: istiod does not know the protocol of %s %q, so its waypoint sniffs the port (HTTP inspector): connections that look like HTTP skip the protocol filter; %s", p, field, name, fix)
	case kind == PortHTTP:
		return fmt.Sprintf("port %s: istiod reads %s %q as HTTP, so its waypoint builds only an HTTP chain for the port and the protocol filter is not applied; %s", p, field, name, fix)
	}
	return ""
}
