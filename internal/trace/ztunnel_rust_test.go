package trace_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/trace"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// A Rust ztunnel's request into an aeraki-served waypoint (--ztunnel
// rust), on testdata/protocols: what Istio's ztunnel sends, and what the
// waypoint's Envoy config does with it.

func rustCall(t *testing.T, res *render.Result, method string) *trace.Result {
	t.Helper()
	r, err := trace.Run(res.Output, trace.Request{From: shopClient, To: "orders:20880", Ztunnel: trace.ZtunnelRust,
		Attributes: map[string]string{"interface": "com.shop.OrderService", "method": method}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRustZtunnel_IntoTheWaypointAndOnToThePod(t *testing.T) {
	res := renderProtocols(t)
	r := rustCall(t, res, "getOrder")
	if r.Outcome != trace.Delivered || r.Destination != "10.244.2.31:20880" {
		t.Fatalf("%s %s, want delivered to the orders pod\n%s", r.Outcome, r.Destination, dump(r))
	}
	first := r.Hops[1]
	for _, want := range []string{
		"HTTP/2 CONNECT 10.96.50.30:20880 to 10.244.3.10:15008", // :authority the service VIP:port, to the waypoint pod's 15008
		"TLS 1.3, ALPN h2, no SNI",
		"as spiffe://cluster.local/ns/shop/sa/client", // the source workload's certificate
		"expecting the waypoint to be spiffe://cluster.local/ns/shop/sa/waypoint",
		`forwarded: for="10.244.1.10:40000";host=orders.shop.svc.cluster.local`,
	} {
		if !strings.Contains(first.Detail, want) {
			t.Errorf("ztunnel's request does not show %q: %s", want, first.Detail)
		}
	}
	out := dump(r)
	for _, want := range []string{
		"mTLS terminated (TLS 1.3, certificate spiffe://cluster.local/ns/shop/sa/waypoint); client certificate spiffe://cluster.local/ns/shop/sa/client accepted; ALPN h2",
		// the source is the peer address, as istiod's waypoint takes it (not forwarded)
		"envoy.filters.listener.original_dst.remote_ip=10.244.1.10:40000",
		"io.istio.peer_principal=spiffe://cluster.local/ns/shop/sa/client",
		// origination as istiod's waypoint: podIP:15008, :authority podIP:targetPort, the waypoint's own certificate
		"HBONE: HTTP/2 CONNECT 10.244.2.31:20880 to 10.244.2.31:15008 (pod shop/orders-0 on node-b), mTLS as spiffe://cluster.local/ns/shop/sa/waypoint, ALPN h2",
		// and the destination node's Rust ztunnel accepts it
		"Rust ztunnel inbound at 10.244.2.31:15008 (pod shop/orders-0 on node-b): mTLS terminated (TLS 1.3, certificate spiffe://cluster.local/ns/shop/sa/orders); client certificate spiffe://cluster.local/ns/shop/sa/waypoint accepted; ALPN h2",
		"CONNECT 10.244.2.31:20880 accepted (its IP is the connection's destination)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace does not show %q:\n%s", want, out)
		}
	}
	if d := rustCall(t, res, "cancelOrder"); d.Outcome == trace.Delivered {
		t.Errorf("the waypoint's policy does not apply to a Rust ztunnel's call\n%s", dump(d))
	}
}

// waypointTerminate is the waypoint's connect_terminate chain, to break.
func waypointTerminate(t *testing.T, res *render.Result) *listenerv3.FilterChain {
	t.Helper()
	for _, p := range res.Output.Proxies {
		if p.ID != "waypoint/shop/waypoint" {
			continue
		}
		for _, l := range p.Listeners {
			if l.GetName() == hbone.ListenerConnectTerminate {
				return l.GetFilterChains()[0]
			}
		}
	}
	t.Fatal("no connect_terminate in waypoint/shop/waypoint")
	return nil
}

func editTLS(t *testing.T, ch *listenerv3.FilterChain, edit func(*tlsv3.DownstreamTlsContext)) {
	t.Helper()
	dtc := &tlsv3.DownstreamTlsContext{}
	if err := ch.GetTransportSocket().GetTypedConfig().UnmarshalTo(dtc); err != nil {
		t.Fatal(err)
	}
	edit(dtc)
	ch.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(dtc)}
}

func editHCM(t *testing.T, ch *listenerv3.FilterChain, edit func(*hcmv3.HttpConnectionManager)) {
	t.Helper()
	h := &hcmv3.HttpConnectionManager{}
	f := ch.GetFilters()[0]
	if err := f.GetTypedConfig().UnmarshalTo(h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: xds.MustAny(h)}
}

// The waypoint presents a certificate that is not the identity istiod
// gives ztunnel for it: ztunnel refuses the handshake.
func TestRustZtunnel_WrongWaypointIdentityFailsTheHandshake(t *testing.T) {
	res := renderProtocols(t)
	editTLS(t, waypointTerminate(t, res), func(d *tlsv3.DownstreamTlsContext) {
		d.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].Name = "spiffe://cluster.local/ns/shop/sa/default"
	})
	r := rustCall(t, res, "getOrder")
	if r.Outcome != trace.Stopped || !strings.Contains(r.Reason, "ztunnel rejects the certificate spiffe://cluster.local/ns/shop/sa/default") ||
		!strings.Contains(r.Reason, "accepts only spiffe://cluster.local/ns/shop/sa/waypoint") {
		t.Fatalf("%s: %s, want ztunnel to refuse the waypoint's certificate\n%s", r.Outcome, r.Reason, dump(r))
	}
}

// ztunnel offers TLS 1.3 only: a waypoint capped at TLS 1.2 cannot talk
// to it.
func TestRustZtunnel_TLS12OnlyWaypointFailsTheHandshake(t *testing.T) {
	res := renderProtocols(t)
	editTLS(t, waypointTerminate(t, res), func(d *tlsv3.DownstreamTlsContext) {
		d.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_2}
	})
	r := rustCall(t, res, "getOrder")
	if r.Outcome != trace.Stopped || !strings.Contains(r.Reason, "accepts TLS 1.2 and ztunnel offers TLS 1.3") {
		t.Fatalf("%s: %s, want a protocol_version failure\n%s", r.Outcome, r.Reason, dump(r))
	}
}

// An ALPN mismatch is not fatal in Envoy: the server selects nothing and
// the handshake goes on; what decides is the codec. HTTP/2 (what aeraki
// configures) reads ztunnel's HTTP/2 preface; a fixed HTTP/1 codec fails.
func TestRustZtunnel_ALPNMismatchFollowsTheCodec(t *testing.T) {
	res := renderProtocols(t)
	ch := waypointTerminate(t, res)
	editTLS(t, ch, func(d *tlsv3.DownstreamTlsContext) { d.CommonTlsContext.AlpnProtocols = []string{"http/1.1"} })
	r := rustCall(t, res, "getOrder")
	if r.Outcome != trace.Delivered || !strings.Contains(dump(r), "Envoy selects none (SSL_TLSEXT_ERR_NOACK) and the handshake goes on without ALPN") {
		t.Fatalf("%s: want delivered with no ALPN negotiated\n%s", r.Outcome, dump(r))
	}
	editHCM(t, ch, func(h *hcmv3.HttpConnectionManager) { h.CodecType = hcmv3.HttpConnectionManager_HTTP1 })
	r = rustCall(t, res, "getOrder")
	if r.Outcome != trace.Stopped || !strings.Contains(r.Reason, "codec_type HTTP1, which cannot parse the client's HTTP/2 connection preface (ALPN none)") {
		t.Fatalf("%s: %s, want the HTTP/1 codec to fail\n%s", r.Outcome, r.Reason, dump(r))
	}
}

// A destination without a waypoint is not a Rust-ztunnel-to-waypoint
// call: the trace says so instead of guessing.
func TestRustZtunnel_OnlyThroughAWaypoint(t *testing.T) {
	res := renderProtocols(t)
	_, err := trace.Run(res.Output, trace.Request{From: shopClient, To: "10.244.2.31:20880", Ztunnel: trace.ZtunnelRust})
	if err == nil || !strings.Contains(err.Error(), "not bound to a waypoint") {
		t.Fatalf("err = %v", err)
	}
}

// waypointCluster is one of the waypoint's clusters, to break.
func waypointCluster(t *testing.T, res *render.Result, name string) *clusterv3.Cluster {
	t.Helper()
	for _, p := range res.Output.Proxies {
		if p.ID != "waypoint/shop/waypoint" {
			continue
		}
		for _, c := range p.Clusters {
			if c.GetName() == name {
				return c
			}
		}
	}
	t.Fatalf("no cluster %s in waypoint/shop/waypoint", name)
	return nil
}

// The destination node's Rust ztunnel requires ALPN h2 of the waypoint's
// tunnel: a connect_originate cluster offering something else is refused.
func TestRustZtunnel_InboundRefusesAnotherALPN(t *testing.T) {
	res := renderProtocols(t)
	c := waypointCluster(t, res, hbone.ClusterConnectOriginate)
	utc := &tlsv3.UpstreamTlsContext{}
	if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(utc); err != nil {
		t.Fatal(err)
	}
	utc.CommonTlsContext.AlpnProtocols = []string{"http/1.1"}
	c.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(utc)}
	r := rustCall(t, res, "getOrder")
	if r.Outcome != trace.Stopped || !strings.Contains(r.Reason, "it offers ALPN h2 and the client http/1.1: no_application_protocol") {
		t.Fatalf("%s: %s, want the Rust inbound to refuse the ALPN\n%s", r.Outcome, r.Reason, dump(r))
	}
}
