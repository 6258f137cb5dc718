// Package trace runs one call through generated Envoy config the way
// Envoy would, and records every hop: the listener that accepts it, the
// filter chain chosen and why, the filters it passes, the route, the
// cluster (with the weights of weighted clusters), the endpoint and its
// metadata, and each HBONE tunnel; and, where the call stops, why.
//
// The simulator reads only Envoy config (listeners, clusters, endpoints,
// routes of each proxy). What Envoy config cannot say, because the
// network decides it (which node a pod runs on, which address belongs to
// which proxy, which connections iptables redirects), comes from a
// Network; [Run] builds one from the model, tests build small ones by hand.
//
// It implements Envoy's documented rules: filter_chain_match precedence,
// the unified matcher API (matcher_list first match, exact_match_map,
// prefix_match_map longest prefix, the IP matcher trie, on_no_match,
// nested matchers), listener filters (original_dst, including its
// internal-listener behaviour), internal listeners and addresses with the
// internal_upstream transport socket's metadata passthrough,
// set_filter_state and filter state sharing with upstream, tcp_proxy
// (cluster override through filter state, weighted clusters,
// tunneling_config), HTTP CONNECT termination (virtual host domains,
// connect_matcher routes), generic_proxy route matching, thrift_proxy
// routes (method, service, headers, weights, mirrors), redis_proxy prefix
// routes (longest prefix, catch-all, mirrors, faults), the network RBAC
// filter (principals from the TLS peer or filter state, and/or/not), TLS
// handshakes (a common version, Envoy's server-side ALPN choice and its
// NOACK on no overlap, client certificates against the server's SAN
// matchers, the server's certificate against what the client accepts),
// the HTTP connection manager's codec,
// ORIGINAL_DST host selection, EDS endpoints, dubbo_proxy route tables;
// and what Envoy does with config it cannot run: a listener or cluster
// naming an extension the proxy's build lacks is NACKed (the call stops
// there with Envoy's error), a generic_proxy route with weighted_clusters
// has no cluster and ends in cluster_not_found. docs/profiles.md lists
// each rule and the Envoy source it follows.
//
// A call can also start at Istio's Rust ztunnel ([RustZtunnel]): its HBONE
// request to a waypoint, as its source says it is made, rather than at
// aeraki's Envoy ztunnel config.
package trace

import (
	"fmt"
	"net/netip"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// Network is what lies outside Envoy config: where connections go
// between proxies.
type Network interface {
	// Outbound returns the proxy and listener port a workload's outbound
	// connections are redirected to, or "" when nothing captures them.
	Outbound(src netip.Addr) (proxy string, port uint32)
	// Owner returns the proxy that receives connections addressed to ip:
	// a waypoint's for its pods, the node's ztunnel for a pod's IP; "" when
	// the address is not behind a proxy.
	Owner(ip netip.Addr) string
	// InboundPlaintextPort is the port a proxy's node redirects plaintext
	// connections for its pods to (ztunnel's 15006); 0 for none.
	InboundPlaintextPort(proxy string) uint32
	// Recaptured reports whether a plaintext connection a proxy opens from
	// this listener is still the workload's own connection (a
	// passthrough), which the destination's node may capture again.
	Recaptured(proxy, listener string) bool
	// Name says what an address is, for people ("pod ns/name").
	Name(ip netip.Addr) string
}

// Simulator runs calls through a set of proxies' config.
type Simulator struct {
	// Proxies are the proxies' config by id.
	Proxies map[string]*plugin.Proxy
	// Profiles are the builds the proxies run, by id: a listener or
	// cluster naming an extension its proxy's build lacks is NACKed, so a
	// call reaching it stops there. Proxies without one are not checked.
	Profiles map[string]*profile.Profile
	// Network connects them.
	Network Network
}

// Call is one connection, and the request it carries, as the workload makes it.
type Call struct {
	// Source is the calling workload's address.
	Source netip.AddrPort
	// Destination is the address it connects to.
	Destination netip.AddrPort
	// Attributes are the L7 request's attributes (for Dubbo: interface,
	// method, and attachments), matched by generic_proxy routes.
	Attributes map[string]string
	// Ztunnel, when set, starts the call at a Rust ztunnel's HBONE request
	// to a waypoint (Istio's ztunnel rather than aeraki's Envoy ztunnel).
	Ztunnel *RustZtunnel
}

// maxAccepts bounds the number of listeners a call may enter, so a
// routing loop in the config ends the trace instead of the program.
const maxAccepts = 32

// conn is one downstream connection (or stream) as a listener sees it.
type conn struct {
	proxy    string
	listener *listenerv3.Listener
	src, dst netip.AddrPort // remote and local address; invalid on an internal listener until restored
	internal bool
	restored bool

	tls     *tlsInfo       // TLS the client speaks, if any
	peer    string         // verified client certificate (SPIFFE id) of the TLS this connection terminated
	alpn    string         // the ALPN protocol the terminated TLS negotiated ("" for none)
	connect *connectStream // the HTTP/2 CONNECT the client sends through an HBONE tunnel
	attrs   map[string]string

	state   filterState
	dynMeta map[string]*structpb.Struct // connection dynamic metadata, by namespace
}

// tlsInfo is what a client presents in its TLS handshake.
type tlsInfo struct {
	clientCert string // SDS name of the client certificate (its SPIFFE id)
	alpn       []string
	sni        string
	versions   []string // TLS versions it offers
	// serverIdentities, when set, are the identities the client accepts
	// in the server's certificate (a Rust ztunnel); else serverSAN, when
	// set, checks it (an Envoy cluster's SAN matchers).
	serverIdentities []string
	serverSAN        func(id string) bool
	client           string // who the client is, for messages ("ztunnel"; "" for Envoy)
}

// connectStream is an HTTP CONNECT request.
type connectStream struct {
	authority string
	headers   map[string]string // lower-case names
}

// run is one call in progress.
type run struct {
	s       *Simulator
	res     *Result
	accepts int
	hbone   bool
	rust    *RustZtunnel // the call's ztunnels are Istio's (Call.Ztunnel)
}

// Run simulates c and returns every hop.
func (s *Simulator) Run(c Call) *Result {
	r := &run{s: s, res: &Result{}}
	proxy, port := s.Network.Outbound(c.Source.Addr())
	r.hop("", StepNetwork, "call", fmt.Sprintf("%s (%s) -> %s (%s)", c.Source, s.Network.Name(c.Source.Addr()), c.Destination, s.Network.Name(c.Destination.Addr())))
	if c.Ztunnel != nil {
		r.rust = c.Ztunnel
		r.runRustZtunnel(c)
		return r.res
	}
	first := &conn{src: c.Source, dst: c.Destination, attrs: c.Attributes, state: filterState{}}
	if proxy == "" {
		r.deliver(first, "the source's connections are not captured by any proxy")
		return r.res
	}
	r.hop("", StepNetwork, "redirect", fmt.Sprintf("outbound connection captured to %s port %d", proxy, port))
	r.accept(proxy, port, first)
	return r.res
}

// accept hands a connection to the listener of proxy bound to port.
func (r *run) accept(proxy string, port uint32, c *conn) {
	if r.tooDeep() {
		return
	}
	p := r.s.Proxies[proxy]
	if p == nil {
		r.stop(proxy, "no config for proxy %s: it would refuse the connection (is it in the translation?)", proxy)
		return
	}
	l := listenerOnPort(p, port)
	if l == nil {
		r.stop(proxy, "proxy %s has no listener on port %d: the connection is refused", proxy, port)
		return
	}
	c.proxy, c.listener = proxy, l
	r.runListener(c)
}

// acceptInternal hands a connection to an internal listener by name.
func (r *run) acceptInternal(proxy, name string, c *conn) {
	if r.tooDeep() {
		return
	}
	l := listenerNamed(r.s.Proxies[proxy], name)
	if l == nil || l.GetInternalListener() == nil {
		r.stop(proxy, "internal address names listener %q, which proxy %s does not have as an internal listener", name, proxy)
		return
	}
	c.proxy, c.listener, c.internal = proxy, l, true
	r.runListener(c)
}

func (r *run) tooDeep() bool {
	r.accepts++
	if r.accepts > maxAccepts {
		r.stop("", "the call entered %d listeners: the config loops", maxAccepts)
		return true
	}
	return false
}

func (r *run) hop(proxy string, step Step, name, detail string) {
	r.res.Hops = append(r.res.Hops, Hop{Proxy: proxy, Step: step, Name: name, Detail: detail})
}

// stop ends the call where it is, with the reason.
func (r *run) stop(proxy, format string, args ...any) {
	if r.res.Outcome != "" {
		return
	}
	r.res.Outcome = Stopped
	r.res.Reason = fmt.Sprintf(format, args...)
	r.hop(proxy, StepStop, "", r.res.Reason)
}

// deliver ends the call at its destination.
func (r *run) deliver(c *conn, how string) {
	r.res.Destination = c.dst.String()
	r.res.Outcome = PassedThrough
	if r.hbone {
		r.res.Outcome = Delivered
	}
	r.hop(c.proxy, StepDeliver, c.dst.String(), fmt.Sprintf("%s: %s", r.s.Network.Name(c.dst.Addr()), how))
}
