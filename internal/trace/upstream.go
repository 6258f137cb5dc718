package trace

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	internalupstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// filterStateOriginalDstAddress picks an ORIGINAL_DST cluster's host.
const filterStateOriginalDstAddress = "envoy.network.transport_socket.original_dst_address"

// host is the upstream host a cluster's load balancer picked.
type host struct {
	addr     netip.AddrPort // an IP host
	internal string         // or an internal listener's name
	endpoint string         // the internal address's endpoint_id
	metadata *corev3.Metadata
}

// upstream connects down's payload to a cluster: picks the host, then
// either enters an internal listener of the same proxy, opens an HBONE
// tunnel (tunnel set), or connects in plaintext.
func (r *run) upstream(down *conn, clusterName string, tunnel *tcpproxyv3.TcpProxy_TunnelingConfig) {
	cl := r.cluster(down.proxy, clusterName)
	if cl == nil {
		r.stop(down.proxy, "cluster %q is not in proxy %s's config: the connection fails", clusterName, down.proxy)
		return
	}
	if p := r.profileOf(down.proxy); p != nil {
		if e := nack(p, "cluster", cl.GetName(), cl); e != "" {
			r.stop(down.proxy, "proxy %s (build %s) rejected cluster %s when it was served (NACK: %q), so it has no such cluster and the connection fails", down.proxy, p.Name, cl.GetName(), e)
			return
		}
	}
	h, how, ok := r.pickHost(down, cl)
	if !ok {
		return
	}
	r.hop(down.proxy, StepEndpoint, h.String(), how)
	up := &conn{src: down.src, attrs: down.attrs, state: down.state.upstream()}
	switch {
	case h.internal != "":
		if tunnel != nil {
			r.stop(down.proxy, "tunneling into an internal listener is not simulated")
			return
		}
		up.dynMeta = passthroughMetadata(cl, h)
		up.src = netip.AddrPort{}
		r.acceptInternal(down.proxy, h.internal, up)
	case tunnel != nil:
		r.tunnel(down, cl, h, tunnel, up)
	default:
		up.proxy, up.listener, up.dst = down.proxy, down.listener, h.addr
		r.plaintext(down, up)
	}
}

// String renders the host for a hop.
func (h host) String() string {
	if h.internal != "" {
		if h.endpoint != "" {
			return "envoy://" + h.internal + "/" + h.endpoint
		}
		return "envoy://" + h.internal
	}
	return h.addr.String()
}

func (r *run) cluster(proxy, name string) *clusterv3.Cluster {
	for _, c := range r.s.Proxies[proxy].Clusters {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

// pickHost is the cluster's load balancer. For ORIGINAL_DST clusters the
// host is, in Envoy's order: filter state
// envoy.network.transport_socket.original_dst_address, the
// original_dst_lb_config metadata key in the connection's dynamic
// metadata, the restored destination; then upstream_port_override
// replaces the port. Other clusters pick among their healthy endpoints
// (the inline load_assignment, or the EDS resource): the trace follows
// the first and says how many there were.
func (r *run) pickHost(down *conn, cl *clusterv3.Cluster) (host, string, bool) {
	r.hop(down.proxy, StepCluster, cl.GetName(), "type "+cl.GetType().String())
	if cl.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		return r.originalDstHost(down, cl)
	}
	cla := cl.GetLoadAssignment()
	if cl.GetType() == clusterv3.Cluster_EDS {
		name := cl.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = cl.GetName()
		}
		cla = nil
		for _, e := range r.s.Proxies[down.proxy].Endpoints {
			if e.GetClusterName() == name {
				cla = e
			}
		}
		if cla == nil {
			r.stop(down.proxy, "EDS cluster %s has no endpoint resource %q: no endpoint", cl.GetName(), name)
			return host{}, "", false
		}
	}
	var healthy []*endpointv3.LbEndpoint
	total := 0
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			total++
			switch e.GetHealthStatus() {
			case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY, corev3.HealthStatus_DEGRADED:
				healthy = append(healthy, e)
			}
		}
	}
	if len(healthy) == 0 {
		r.stop(down.proxy, "cluster %s has no healthy endpoint (%d in total): no endpoint to connect to", cl.GetName(), total)
		return host{}, "", false
	}
	e := healthy[0]
	h := host{metadata: e.GetMetadata()}
	addr := e.GetEndpoint().GetAddress()
	if ia := addr.GetEnvoyInternalAddress(); ia != nil {
		h.internal, h.endpoint = ia.GetServerListenerName(), ia.GetEndpointId()
	} else if sa := addr.GetSocketAddress(); sa != nil {
		ip, err := netip.ParseAddr(sa.GetAddress())
		if err != nil {
			r.stop(down.proxy, "endpoint address %q of cluster %s is not an IP: not simulated", sa.GetAddress(), cl.GetName())
			return host{}, "", false
		}
		h.addr = netip.AddrPortFrom(ip, uint16(sa.GetPortValue()))
	}
	how := fmt.Sprintf("endpoint 1 of %d healthy (%d total)", len(healthy), total)
	if md := describeMetadata(e.GetMetadata()); md != "" {
		how += "; metadata " + md
	}
	return h, how, true
}

func (r *run) originalDstHost(down *conn, cl *clusterv3.Cluster) (host, string, bool) {
	lb := cl.GetOriginalDstLbConfig()
	var addr netip.AddrPort
	how := ""
	if v, ok := down.state.get(filterStateOriginalDstAddress); ok {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			addr, how = ap, "ORIGINAL_DST host "+v+" from filter state "+filterStateOriginalDstAddress
		}
	}
	if !addr.IsValid() && lb.GetMetadataKey() != nil {
		if v := metadataString(down.dynMeta, lb.GetMetadataKey().GetKey(), lb.GetMetadataKey().GetPath()); v != "" {
			if ap, err := netip.ParseAddrPort(v); err == nil {
				addr, how = ap, "ORIGINAL_DST host "+v+" from connection metadata "+lb.GetMetadataKey().GetKey()+metadataPath(lb.GetMetadataKey().GetPath())
			}
		}
	}
	if !addr.IsValid() && down.restored && down.dst.IsValid() {
		addr, how = down.dst, "ORIGINAL_DST host "+down.dst.String()+" (the restored destination)"
	}
	if !addr.IsValid() {
		r.stop(down.proxy, "ORIGINAL_DST cluster %s finds no destination: nothing restored it and no override is set", cl.GetName())
		return host{}, "", false
	}
	if p := lb.GetUpstreamPortOverride(); p != nil {
		addr = netip.AddrPortFrom(addr.Addr(), uint16(p.GetValue()))
		how += fmt.Sprintf(", upstream_port_override %d", p.GetValue())
	}
	return host{addr: addr}, how, true
}

// passthroughMetadata is what the internal_upstream transport socket
// copies from the host (or cluster) metadata into the internal
// connection's dynamic metadata.
func passthroughMetadata(cl *clusterv3.Cluster, h host) map[string]*structpb.Struct {
	out := map[string]*structpb.Struct{}
	msg, err := unpack(cl.GetTransportSocket().GetTypedConfig())
	if err != nil {
		return out
	}
	iu, ok := msg.(*internalupstreamv3.InternalUpstreamTransport)
	if !ok {
		return out
	}
	for _, src := range iu.GetPassthroughMetadata() {
		var md *corev3.Metadata
		switch {
		case src.GetKind().GetHost() != nil:
			md = h.metadata
		case src.GetKind().GetCluster() != nil:
			md = cl.GetMetadata()
		}
		if s := md.GetFilterMetadata()[src.GetName()]; s != nil {
			out[src.GetName()] = s
		}
	}
	return out
}

// tunnel opens HBONE: an HTTP/2 CONNECT to the host, :authority from
// tunneling_config's hostname, over the cluster's TLS as its client
// certificate; the proxy owning the host's address receives it.
func (r *run) tunnel(down *conn, cl *clusterv3.Cluster, h host, tc *tcpproxyv3.TcpProxy_TunnelingConfig, up *conn) {
	authority, err := format(tc.GetHostname(), down)
	if err != nil {
		r.stop(down.proxy, "tunneling_config hostname: %v", err)
		return
	}
	up.tls = clusterTLS(cl)
	if up.tls == nil {
		r.stop(down.proxy, "cluster %s tunnels without TLS: not HBONE, not simulated", cl.GetName())
		return
	}
	up.connect, up.dst = &connectStream{authority: authority}, h.addr
	r.hbone = true
	r.hop(down.proxy, StepTunnel, h.addr.String(), fmt.Sprintf("HBONE: HTTP/2 CONNECT %s to %s (%s), mTLS as %s, ALPN %s",
		authority, h.addr, r.s.Network.Name(h.addr.Addr()), orNone(up.tls.clientCert), strings.Join(up.tls.alpn, ",")))
	if id, ok := r.rust.podIdentity(h.addr.Addr()); ok {
		r.rustInbound(down, up, id)
		return
	}
	owner := r.s.Network.Owner(h.addr.Addr())
	if owner == "" {
		r.stop(down.proxy, "no proxy terminates HBONE at %s: the tunnel fails", h.addr)
		return
	}
	r.accept(owner, uint32(h.addr.Port()), up)
}

// clusterTLS is the client side of the cluster's TLS transport socket.
func clusterTLS(cl *clusterv3.Cluster) *tlsInfo {
	msg, err := unpack(cl.GetTransportSocket().GetTypedConfig())
	if err != nil {
		return nil
	}
	utc, ok := msg.(*tlsv3.UpstreamTlsContext)
	if !ok {
		return nil
	}
	common := utc.GetCommonTlsContext()
	// Envoy's client defaults: TLS 1.2 only (tls.proto TlsParameters).
	t := &tlsInfo{sni: utc.GetSni(), alpn: common.GetAlpnProtocols(),
		versions:  tlsRange(common.GetTlsParams().GetTlsMinimumProtocolVersion().String(), common.GetTlsParams().GetTlsMaximumProtocolVersion().String(), tls12, tls12),
		serverSAN: func(id string) bool { return sanAccepted(common, id) }}
	if certs := utc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs(); len(certs) > 0 {
		t.clientCert = certs[0].GetName()
	}
	return t
}

// plaintext connects to an IP host without a tunnel. A connection the
// proxy passed through unchanged may be captured again by the
// destination's node; otherwise the call has arrived.
func (r *run) plaintext(down, up *conn) {
	if r.s.Network.Recaptured(down.proxy, down.listener.GetName()) {
		owner := r.s.Network.Owner(up.dst.Addr())
		if port := r.s.Network.InboundPlaintextPort(owner); owner != "" && port != 0 && r.claims(owner, port, up) {
			r.hop("", StepNetwork, "redirect", fmt.Sprintf("%s captures the plaintext connection to %s on port %d", owner, up.dst, port))
			r.accept(owner, port, &conn{src: up.src, dst: up.dst, attrs: up.attrs, state: filterState{}})
			return
		}
	}
	r.deliver(up, "plaintext connection from "+down.proxy)
}

// claims reports whether the listener on port of proxy has a filter
// chain for the connection: the node only redirects connections its proxy
// is configured for.
func (r *run) claims(proxy string, port uint32, c *conn) bool {
	p := r.s.Proxies[proxy]
	if p == nil {
		return false
	}
	l := listenerOnPort(p, port)
	if l == nil {
		return false
	}
	probe := &conn{proxy: proxy, listener: l, src: c.src, dst: c.dst, restored: true, state: filterState{}}
	ch, _, err := selectChain(probe)
	return err == nil && ch != nil
}

func describeMetadata(md *corev3.Metadata) string {
	if md == nil {
		return ""
	}
	var parts []string
	for ns, s := range md.GetFilterMetadata() {
		var fields []string
		for k, v := range s.GetFields() {
			fields = append(fields, k+"="+v.GetStringValue())
		}
		sort.Strings(fields)
		parts = append(parts, ns+"{"+strings.Join(fields, ", ")+"}")
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// metadataString reads a string at key/path in dynamic metadata.
func metadataString(md map[string]*structpb.Struct, key string, path []*metadatav3.MetadataKey_PathSegment) string {
	s := md[key]
	if s == nil {
		return ""
	}
	var v *structpb.Value = structpb.NewStructValue(s)
	for _, seg := range path {
		v = v.GetStructValue().GetFields()[seg.GetKey()]
		if v == nil {
			return ""
		}
	}
	if l := v.GetListValue(); l != nil && len(l.GetValues()) > 0 {
		v = l.GetValues()[0]
	}
	return v.GetStringValue()
}

func metadataPath(path []*metadatav3.MetadataKey_PathSegment) string {
	var b strings.Builder
	for _, seg := range path {
		b.WriteString("." + seg.GetKey())
	}
	return b.String()
}
