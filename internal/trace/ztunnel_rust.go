package trace

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// RustZtunnel is how Istio's ztunnel (the Rust one, github.com/istio/ztunnel)
// opens HBONE to a waypoint for a captured connection, so a trace can start
// at a real ztunnel's request instead of aeraki's Envoy ztunnel config:
//
//   - TCP from inside the source pod's network namespace
//     (src/inpod/config.rs InPodSocketFactory), so the waypoint sees the
//     source pod's IP;
//   - TLS 1.3 only unless TLS12_ENABLED (src/tls/lib.rs tls_versions), ALPN
//     h2, no SNI, client certificate = the source workload's identity
//     (src/tls/certificate.rs client_config);
//   - the waypoint's certificate must carry one of the identities istiod
//     gave for it over WDS, else the handshake fails
//     (src/tls/workload.rs IdentityVerifier::verify_full_san);
//   - HTTP/2 CONNECT, :authority the original destination (service
//     VIP:port, or pod IP:port for workload waypoints), headers baggage,
//     forwarded for="<src>"[;host=<service hostname>] and traceparent
//     (src/proxy/outbound.rs create_hbone_request, build_forwarded).
type RustZtunnel struct {
	// Identity is the source workload's SPIFFE id (its client certificate).
	Identity string
	// Waypoint is where the tunnel goes: the waypoint's address and HBONE
	// port (15008), as WDS gives it.
	Waypoint netip.AddrPort
	// WaypointIdentities are the identities ztunnel accepts in the
	// waypoint's certificate: the waypoint workload's identity and its
	// service SANs (src/state.rs Upstream::workload_and_services_san).
	WaypointIdentities []string
	// ServiceHostname, when the destination is a service, goes in the
	// forwarded header's host parameter.
	ServiceHostname string
	// ALPN is what ztunnel offers; nil means ["h2"].
	ALPN []string
	// TLSVersions are the versions it offers ("1.2", "1.3"); nil means
	// ["1.3"] (ztunnel without TLS12_ENABLED).
	TLSVersions []string
	// Pods are the pods (IP to SPIFFE id) whose nodes run a Rust ztunnel
	// too: HBONE to <pod IP>:15008 is terminated by that ztunnel's inbound
	// (emulated from its source) rather than by an aeraki ztunnel's config.
	Pods map[string]string
}

// podIdentity is the identity of a pod behind a Rust ztunnel.
func (z *RustZtunnel) podIdentity(ip netip.Addr) (string, bool) {
	if z == nil {
		return "", false
	}
	id, ok := z.Pods[ip.String()]
	return id, ok
}

// trustDomain is the trust domain of a SPIFFE id.
func trustDomain(id string) string {
	rest, _ := strings.CutPrefix(id, "spiffe://")
	td, _, _ := strings.Cut(rest, "/")
	return td
}

// rustInbound is a Rust ztunnel terminating HBONE for one of its node's
// pods, the way its source does it:
//
//   - TLS 1.3 (1.2 only with TLS12_ENABLED), ALPN h2, the pod's
//     certificate; a client certificate is required and must chain to the
//     mesh root and carry a SPIFFE id of ztunnel's own trust domain
//     (src/tls/certificate.rs server_config, src/tls/workload.rs
//     TrustDomainVerifier);
//   - a client offering ALPN protocols none of which is h2 is refused
//     (rustls, src/server/hs.rs: no overlap with configured protocols is
//     a fatal no_application_protocol alert; a client offering none is
//     accepted);
//   - the request must be CONNECT and its :authority IP the address the
//     connection came to, else 400 (src/proxy/inbound.rs
//     validate_destination); the stream goes to the pod at the
//     :authority's port.
func (r *run) rustInbound(down, up *conn, podID string) {
	at := up.dst
	name := r.s.Network.Name(at.Addr())
	fail := func(format string, args ...any) {
		r.stop("", "Rust ztunnel inbound at %s (%s): "+format, append([]any{at, name}, args...)...)
	}
	t := up.tls
	if commonVersion([]string{tls13}, t.versions) == "" {
		fail("it speaks TLS 1.3 and the client offers TLS %s: the handshake fails", strings.Join(t.versions, ","))
		return
	}
	if len(t.alpn) > 0 && !slices.Contains(t.alpn, "h2") {
		fail("it offers ALPN h2 and the client %s: no_application_protocol, the handshake fails", strings.Join(t.alpn, ","))
		return
	}
	if t.clientCert == "" {
		fail("it requires a client certificate and the client presents none")
		return
	}
	if td := trustDomain(podID); trustDomain(t.clientCert) != td {
		fail("the client certificate %s is not of trust domain %s (TrustDomainVerifier): the handshake fails", t.clientCert, td)
		return
	}
	if t.serverSAN != nil && !t.serverSAN(podID) {
		fail("the client's TLS context rejects the pod's certificate %s: its URI SAN matches none of the cluster's matchers", podID)
		return
	}
	// Hops of a Rust ztunnel name no proxy: it has no config here.
	r.hop("", StepTLS, podID, fmt.Sprintf("Rust ztunnel inbound at %s (%s): mTLS terminated (TLS 1.3, certificate %s); client certificate %s accepted; ALPN h2",
		at, name, podID, t.clientCert))
	target, err := netip.ParseAddrPort(up.connect.authority)
	if err != nil {
		fail("CONNECT :authority %q is not ip:port: 400", up.connect.authority)
		return
	}
	if target.Addr() != at.Addr() {
		fail("CONNECT :authority %s names another IP than the connection's destination %s, and the pod runs no waypoint of that target: 400 (validate_destination)", target, at.Addr())
		return
	}
	r.hop("", StepRoute, "connect", fmt.Sprintf("Rust ztunnel inbound: CONNECT %s accepted (its IP is the connection's destination)", target))
	delivered := &conn{src: up.src, dst: target}
	r.deliver(delivered, "plaintext connection from the Rust ztunnel on its node (src/proxy/inbound.rs)")
}

func (z *RustZtunnel) alpn() []string {
	if z.ALPN == nil {
		return []string{"h2"}
	}
	return z.ALPN
}

func (z *RustZtunnel) versions() []string {
	if z.TLSVersions == nil {
		return []string{tls13}
	}
	return z.TLSVersions
}

// headers are the CONNECT request's headers besides the pseudo-headers.
func (z *RustZtunnel) headers(src netip.AddrPort) map[string]string {
	fwd := fmt.Sprintf("for=%q", src.String())
	if z.ServiceHostname != "" {
		fwd += ";host=" + z.ServiceHostname
	}
	return map[string]string{
		"forwarded":   fwd,
		"baggage":     "<the source workload's k8s.* and service.* attributes (src/baggage.rs)>",
		"traceparent": "00-<trace id>-<span id>-01",
	}
}

// runRustZtunnel starts the call at a Rust ztunnel's HBONE request to the
// waypoint.
func (r *run) runRustZtunnel(c Call) {
	z := c.Ztunnel
	up := &conn{src: c.Source, dst: z.Waypoint, attrs: c.Attributes, state: filterState{},
		tls:     &tlsInfo{clientCert: z.Identity, alpn: z.alpn(), versions: z.versions(), serverIdentities: z.WaypointIdentities, client: "ztunnel"},
		connect: &connectStream{authority: c.Destination.String(), headers: z.headers(c.Source)}}
	var hs []string
	for _, k := range []string{"forwarded", "baggage", "traceparent"} {
		hs = append(hs, k+": "+up.connect.headers[k])
	}
	r.hbone = true
	r.hop("", StepTunnel, z.Waypoint.String(), fmt.Sprintf("Rust ztunnel HBONE: HTTP/2 CONNECT %s to %s (%s) from %s, mTLS (TLS %s, ALPN %s, no SNI) as %s, expecting the waypoint to be %s; headers %s",
		c.Destination, z.Waypoint, r.s.Network.Name(z.Waypoint.Addr()), c.Source, strings.Join(up.tls.versions, ","), strings.Join(up.tls.alpn, ","),
		orNone(z.Identity), strings.Join(z.WaypointIdentities, " or "), strings.Join(hs, "; ")))
	owner := r.s.Network.Owner(z.Waypoint.Addr())
	if owner == "" {
		r.stop("", "no proxy terminates HBONE at %s: ztunnel's connection fails", z.Waypoint)
		return
	}
	r.accept(owner, uint32(z.Waypoint.Port()), up)
}

// TLS versions as the trace names them.
const (
	tls12 = "1.2"
	tls13 = "1.3"
)

// tlsRange lists the versions between min and max, Envoy's names
// (TLSv1_2, TLSv1_3, TLS_AUTO) or "" for the default given.
func tlsRange(minV, maxV, defMin, defMax string) []string {
	norm := func(v, def string) string {
		switch v {
		case "TLSv1_2":
			return tls12
		case "TLSv1_3":
			return tls13
		case "TLSv1_0", "TLSv1_1":
			return "1.0"
		}
		return def
	}
	lo, hi := norm(minV, defMin), norm(maxV, defMax)
	var out []string
	for _, v := range []string{"1.0", tls12, tls13} {
		if v >= lo && v <= hi {
			out = append(out, v)
		}
	}
	return out
}

// commonVersion is the highest version both sides speak, "" for none.
func commonVersion(server, client []string) string {
	best := ""
	for _, v := range client {
		if slices.Contains(server, v) && v > best {
			best = v
		}
	}
	return best
}
