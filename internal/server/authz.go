package server

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/aeraki-ng/aeraki/internal/identity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Authorization says who may read what, beyond what the proxies'
// plugins decide (plugin.ProxyAuthorizer).
//
// On the TLS address a proxy's config goes only to a client whose
// certificate the proxy's plugin accepts for it; MCP collections go to
// any client, or only to MCPIdentities when set (istiod's MCP client
// presents no certificate: configSources tlsSettings support SIMPLE TLS
// only, pilot/pkg/bootstrap/configcontroller.go, getTransportCredentials).
//
// On the plaintext address nothing is authenticated: MCP is served, proxy
// config only with InsecurePlaintextProxies, and neither carries
// credentials unless InsecurePlaintextCredentials.
type Authorization struct {
	// InsecurePlaintextProxies serves proxy config (waypoints, ztunnels,
	// proxyless clients) on the plaintext address to any client that asks
	// for it, as aeraki did before it had a TLS address.
	InsecurePlaintextProxies bool
	// InsecurePlaintextCredentials lets config holding credentials (Redis
	// passwords) be served on the plaintext address.
	InsecurePlaintextCredentials bool
	// MCPIdentities, when set, are the only SPIFFE ids served MCP on the
	// TLS address; empty serves any client.
	MCPIdentities []string
}

// listener is one address the xDS/MCP gRPC server is served on.
type listener struct {
	name   string // "tls" or "plaintext"
	secure bool
	view   *view
}

// peerInfo is who is on the other end of a stream.
type peerInfo struct {
	addr       string   // IP address
	identities []string // SPIFFE ids of the verified client certificate
}

// peerOf reads the stream's peer: its address and, over TLS, the
// identities of its verified certificate (what istiod's
// ClientCertAuthenticator reads).
func peerOf(ctx context.Context) peerInfo {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return peerInfo{}
	}
	var out peerInfo
	if p.Addr != nil {
		out.addr = p.Addr.String()
		if host, _, err := net.SplitHostPort(out.addr); err == nil {
			out.addr = host
		}
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		out.identities = identity.PeerIdentities(ti.State.VerifiedChains)
	}
	return out
}

// authorize decides whether the stream may read what typeURL asks for as
// node (matched to m). Refusals are PermissionDenied (or NotFound for a
// node no plugin claims, Unavailable before the first config), counted
// and logged.
func (s *Server) authorize(l *listener, p peerInfo, node *corev3.Node, m nodeMatch, typeURL string) error {
	refuse := func(reason string, code codes.Code, format string, args ...any) error {
		return s.tracker.refuse(l, node, p, reason, status.Errorf(code, format, args...))
	}
	az := s.opts.Authorization
	if IsMCPType(typeURL) {
		if !l.secure || len(az.MCPIdentities) == 0 {
			return nil
		}
		for _, id := range p.identities {
			if slices.Contains(az.MCPIdentities, id) {
				return nil
			}
		}
		return refuse("identity", codes.PermissionDenied, "MCP collections are served only to %s; the client's certificate names %s",
			strings.Join(az.MCPIdentities, ", "), describe(p.identities))
	}
	if m.plugin == "" {
		return refuse("unknown-node", codes.NotFound, "node %q is no proxy aeraki serves: no plugin claims it "+
			"(waypoints: node id waypoint/<namespace>/<gateway>, ztunnels: ztunnel/<node>, proxyless gRPC: node metadata PROXYLESS=true)", node.GetId())
	}
	if !l.secure {
		if az.InsecurePlaintextProxies {
			return nil
		}
		return refuse("plaintext", codes.PermissionDenied, "proxy %s: proxy config is served only on aeraki's TLS address (15012), "+
			"where the client's certificate proves which proxy it is (or start aeraki with --insecure-plaintext-proxies)", m.proxyID)
	}
	if len(p.identities) == 0 {
		return refuse("no-certificate", codes.PermissionDenied, "proxy %s: the client presented no certificate from the mesh CA", m.proxyID)
	}
	snap := s.pub.current()
	if snap == nil {
		return refuse("not-ready", codes.Unavailable, "aeraki has not generated its first config yet; retry")
	}
	b := s.nodes.builder(m.plugin)
	pa, ok := b.(plugin.ProxyAuthorizer)
	if !ok {
		return refuse("identity", codes.PermissionDenied, "proxy %s: plugin %s does not say who may read its proxies, so aeraki serves them to no one on its TLS address", m.proxyID, m.plugin)
	}
	if err := safeAuthorize(pa, snap.View(), m.proxyID, plugin.Peer{Identities: p.identities, Address: p.addr}); err != nil {
		return refuse("identity", codes.PermissionDenied, "proxy %s: %v", m.proxyID, err)
	}
	return nil
}

// safeAuthorize asks the plugin; a plugin that panics refuses.
func safeAuthorize(pa plugin.ProxyAuthorizer, v *model.View, id string, p plugin.Peer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("the plugin failed to decide (it panicked), so the request is refused")
		}
	}()
	return pa.AuthorizeProxy(v, id, p)
}

func describe(ids []string) string {
	if len(ids) == 0 {
		return "no identity (no certificate)"
	}
	return strings.Join(ids, ", ")
}
