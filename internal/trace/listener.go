package trace

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Names of the original_dst listener filter's metadata and filter state
// on internal listeners, as Envoy defines them.
const (
	originalDstNamespace = "envoy.filters.listener.original_dst"
	originalDstLocalKey  = "envoy.filters.listener.original_dst.local_ip"
	originalDstRemoteKey = "envoy.filters.listener.original_dst.remote_ip"
)

// listenerOnPort is the listener bound to port (any address).
func listenerOnPort(p *plugin.Proxy, port uint32) *listenerv3.Listener {
	for _, l := range p.Listeners {
		if sa := l.GetAddress().GetSocketAddress(); sa != nil && sa.GetPortValue() == port {
			return l
		}
	}
	return nil
}

func listenerNamed(p *plugin.Proxy, name string) *listenerv3.Listener {
	if p == nil {
		return nil
	}
	for _, l := range p.Listeners {
		if l.GetName() == name {
			return l
		}
	}
	return nil
}

// runListener takes a connection through a listener: listener filters,
// filter chain selection, TLS, then the chain's network filters.
func (r *run) runListener(c *conn) {
	l := c.listener
	where := "internal listener"
	if sa := l.GetAddress().GetSocketAddress(); sa != nil {
		where = fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
	}
	if p := r.profileOf(c.proxy); p != nil {
		if e := nack(p, "listener", l.GetName(), l); e != "" {
			r.stop(c.proxy, "proxy %s (build %s) rejected listener %s when it was served (NACK: %q), so the listener does not exist there and the connection is refused", c.proxy, p.Name, l.GetName(), e)
			return
		}
	}
	r.hop(c.proxy, StepListener, l.GetName(), where)
	if err := r.listenerFilters(c); err != nil {
		r.stop(c.proxy, "listener %s: %v", l.GetName(), err)
		return
	}
	ch, why, err := selectChain(c)
	if err != nil {
		r.stop(c.proxy, "listener %s: %v", l.GetName(), err)
		return
	}
	if ch == nil {
		r.stop(c.proxy, "no filter chain of listener %s matches (destination %s, source %s): the connection is closed [%s]", l.GetName(), addrOrInternal(c.dst), addrOrInternal(c.src), why)
		return
	}
	r.hop(c.proxy, StepChain, ch.GetName(), why)
	if !r.terminateTLS(c, ch) {
		return
	}
	r.runFilters(c, ch.GetFilters())
}

func addrOrInternal(a netip.AddrPort) string {
	if !a.IsValid() {
		return "internal address"
	}
	return a.String()
}

// listenerFilters runs the listener filters the generated config uses.
func (r *run) listenerFilters(c *conn) error {
	for _, lf := range c.listener.GetListenerFilters() {
		msg, err := unpack(lf.GetTypedConfig())
		if err != nil {
			return err
		}
		switch msg.(type) {
		case *originaldstv3.OriginalDst:
			r.hop(c.proxy, StepListenerFilter, lf.GetName(), originalDst(c))
		default:
			if !strings.Contains(lf.GetName(), "inspector") {
				return fmt.Errorf("listener filter %s is not simulated", lf.GetName())
			}
		}
	}
	return nil
}

// originalDst is the original_dst listener filter. On a socket it
// restores the destination the connection was redirected from. On an
// internal listener it reads the destination from the connection's
// dynamic metadata (envoy.filters.listener.original_dst, field "local"),
// else from filter state (...original_dst.local_ip), and the source from
// filter state (...original_dst.remote_ip).
func originalDst(c *conn) string {
	if !c.internal {
		c.restored = true
		return "destination restored from the redirected socket: " + c.dst.String()
	}
	var notes []string
	if v := c.dynMeta[originalDstNamespace].GetFields()["local"].GetStringValue(); v != "" {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			c.dst, c.restored = ap, true
			notes = append(notes, "destination "+v+" from metadata "+originalDstNamespace+".local")
		} else {
			notes = append(notes, "metadata "+originalDstNamespace+".local "+v+" is not ip:port; nothing restored")
		}
	} else if v, ok := c.state.get(originalDstLocalKey); ok {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			c.dst, c.restored = ap, true
			notes = append(notes, "destination "+v+" from filter state "+originalDstLocalKey)
		}
	}
	if v, ok := c.state.get(originalDstRemoteKey); ok {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			c.src = ap
			notes = append(notes, "source "+v+" from filter state "+originalDstRemoteKey)
		}
	}
	if len(notes) == 0 {
		return "nothing to restore: destination and source stay internal addresses"
	}
	return strings.Join(notes, "; ")
}

// selectChain picks the listener's filter chain: by filter_chain_matcher
// when set (filter_chain_match fields are then not used), else by
// filter_chain_match; default_filter_chain when nothing matches.
func selectChain(c *conn) (*listenerv3.FilterChain, string, error) {
	l := c.listener
	var ch *listenerv3.FilterChain
	var why string
	if m := l.GetFilterChainMatcher(); m != nil {
		var trail matchTrail
		action, err := evalMatcher(m, networkInputs(c), &trail)
		if err != nil {
			return nil, "", fmt.Errorf("filter_chain_matcher: %w", err)
		}
		why = "filter_chain_matcher: " + trail.String()
		if action != nil {
			name, err := chainName(action)
			if err != nil {
				return nil, "", err
			}
			if ch = findChain(l, name); ch == nil {
				return nil, "", fmt.Errorf("filter_chain_matcher selects chain %q, which the listener does not have (Envoy rejects such a listener)", name)
			}
			return ch, why, nil
		}
	} else {
		ch, why = selectByFilterChainMatch(l.GetFilterChains(), c)
		why = "filter_chain_match: " + why
		if ch != nil {
			return ch, why, nil
		}
	}
	if d := l.GetDefaultFilterChain(); d != nil {
		return d, why + "; default_filter_chain", nil
	}
	return nil, why, nil
}

func chainName(action *xdscore.TypedExtensionConfig) (string, error) {
	msg, err := unpack(action.GetTypedConfig())
	if err != nil {
		return "", err
	}
	s, ok := msg.(*wrapperspb.StringValue)
	if !ok {
		return "", fmt.Errorf("filter chain matcher action %T is not a chain name (google.protobuf.StringValue)", msg)
	}
	return s.GetValue(), nil
}

func findChain(l *listenerv3.Listener, name string) *listenerv3.FilterChain {
	for _, ch := range l.GetFilterChains() {
		if ch.GetName() == name {
			return ch
		}
	}
	if d := l.GetDefaultFilterChain(); d != nil && d.GetName() == name {
		return d
	}
	return nil
}

// terminateTLS applies the chain's transport socket: a
// DownstreamTlsContext terminates the client's TLS (requiring and checking
// its certificate when configured). It reports false when the handshake fails.
func (r *run) terminateTLS(c *conn, ch *listenerv3.FilterChain) bool {
	ts := ch.GetTransportSocket()
	if ts == nil {
		if c.tls != nil {
			r.hop(c.proxy, StepTLS, "", "no transport socket: the chain sees the TLS bytes as they are")
		}
		return true
	}
	msg, err := unpack(ts.GetTypedConfig())
	if err != nil {
		r.stop(c.proxy, "chain %s: %v", ch.GetName(), err)
		return false
	}
	dtc, ok := msg.(*tlsv3.DownstreamTlsContext)
	if !ok {
		r.stop(c.proxy, "chain %s: transport socket %s is not simulated", ch.GetName(), ts.GetName())
		return false
	}
	if c.tls == nil {
		r.stop(c.proxy, "chain %s terminates TLS but the client speaks plaintext: the handshake fails", ch.GetName())
		return false
	}
	common := dtc.GetCommonTlsContext()
	var server []string
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		server = append(server, s.GetName())
	}
	who := "the client"
	if c.tls.client != "" {
		who = c.tls.client
	}
	// Envoy's server defaults: TLS 1.2 to 1.3 (tls.proto TlsParameters).
	params := common.GetTlsParams()
	offered := tlsRange(params.GetTlsMinimumProtocolVersion().String(), params.GetTlsMaximumProtocolVersion().String(), tls12, tls13)
	version := commonVersion(offered, c.tls.versions)
	if c.tls.versions != nil && version == "" {
		r.stop(c.proxy, "chain %s accepts TLS %s and %s offers TLS %s: the handshake fails (protocol_version alert)", ch.GetName(), strings.Join(offered, ","), who, strings.Join(c.tls.versions, ","))
		return false
	}
	if dtc.GetRequireClientCertificate().GetValue() && c.tls.clientCert == "" {
		r.stop(c.proxy, "chain %s requires a client certificate and the client presents none", ch.GetName())
		return false
	}
	if c.tls.clientCert != "" && !sanAccepted(common, c.tls.clientCert) {
		r.stop(c.proxy, "chain %s rejects the client certificate %s: its URI SAN matches none of the configured matchers", ch.GetName(), c.tls.clientCert)
		return false
	}
	// The client checks the server's certificate (named, by aeraki's SDS
	// convention, by the SPIFFE id it carries).
	cert := ""
	if len(server) > 0 {
		cert = server[0]
	}
	switch {
	case c.tls.serverIdentities != nil && !slices.Contains(c.tls.serverIdentities, cert):
		r.stop(c.proxy, "%s rejects the certificate %s of chain %s: it accepts only %s (ztunnel src/tls/workload.rs verify_full_san); the handshake fails", who, orNone(cert), ch.GetName(), strings.Join(c.tls.serverIdentities, " or "))
		return false
	case c.tls.serverIdentities == nil && c.tls.serverSAN != nil && !c.tls.serverSAN(cert):
		r.stop(c.proxy, "the upstream TLS context rejects the certificate %s of chain %s: its URI SAN matches none of the cluster's matchers; the handshake fails", orNone(cert), ch.GetName())
		return false
	}
	alpn := negotiate(common.GetAlpnProtocols(), c.tls.alpn)
	alpnNote := orNone(alpn)
	if alpn == "" && len(common.GetAlpnProtocols()) > 0 && len(c.tls.alpn) > 0 {
		// source/common/tls/server_context_impl.cc alpnSelectCallback
		alpnNote = fmt.Sprintf("none: the chain offers %s and %s %s, so Envoy selects none (SSL_TLSEXT_ERR_NOACK) and the handshake goes on without ALPN",
			strings.Join(common.GetAlpnProtocols(), ","), who, strings.Join(c.tls.alpn, ","))
	}
	tlsNote := ""
	if version != "" {
		tlsNote = "TLS " + version + ", "
	}
	r.hop(c.proxy, StepTLS, strings.Join(server, ","), fmt.Sprintf("mTLS terminated (%scertificate %s); client certificate %s accepted; ALPN %s",
		tlsNote, strings.Join(server, ","), orNone(c.tls.clientCert), alpnNote))
	c.peer = c.tls.clientCert // what Envoy reports as the downstream peer
	c.alpn = alpn
	c.tls = nil // the filters see plaintext
	return true
}

// sanAccepted checks a client's SPIFFE id against the validation
// context's URI SAN matchers (none configured accepts any).
func sanAccepted(common *tlsv3.CommonTlsContext, id string) bool {
	vc := common.GetCombinedValidationContext().GetDefaultValidationContext()
	if vc == nil {
		vc = common.GetValidationContext()
	}
	ms := vc.GetMatchTypedSubjectAltNames()
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		if m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
			continue
		}
		sm := m.GetMatcher()
		switch {
		case sm.GetExact() != "" && sm.GetExact() == id,
			sm.GetPrefix() != "" && strings.HasPrefix(id, sm.GetPrefix()),
			sm.GetSuffix() != "" && strings.HasSuffix(id, sm.GetSuffix()):
			return true
		}
	}
	return false
}

// negotiate is Envoy's server-side ALPN choice: SSL_select_next_proto in
// the server's order (source/common/tls/server_context_impl.cc); a server
// with no list negotiates nothing.
func negotiate(server, client []string) string {
	for _, p := range server {
		if slices.Contains(client, p) {
			return p
		}
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
