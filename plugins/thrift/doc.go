// Package thrift is aeraki's Thrift plugin. It claims ports whose
// protocol is thrift (tcp-thrift, thrift-*, tcp-metaprotocol-thrift-*,
// appProtocol thrift) and builds Envoy's thrift_proxy for them, on
// sidecars (an EnvoyFilter replacing tcp_proxy, outbound and inbound) and
// in waypoint chains.
//
// # Routes
//
// MetaRouters route Thrift calls; plain tcp-thrift ports also honour Istio
// VirtualServices (match.method, match.headers, weighted subsets), as
// Aeraki did, unless a MetaRouter names the host. MetaRouter attributes
// mean:
//
//   - method: the Thrift method name, matched exactly (thrift_proxy has no
//     prefix or regex method match; such a router is refused);
//   - service: the service name of a multiplexed Thrift call
//     ("Service:method" on the wire), matched exactly; with method it
//     selects "service:method";
//   - any other attribute: a Thrift header of that name (exact, prefix,
//     regex or presence). Only the header transport and the twitter
//     protocol carry headers; a header match on a port whose transport and
//     protocol say there are none is reported, since it can never match.
//
// Weighted destinations, subsets and mirrors (request_mirror_policies)
// are programmed; timeouts, retries, fault injection, request and
// response mutations and local rate limits have no thrift_proxy
// equivalent and are reported on the MetaRouter as warnings. A global
// rate limit becomes thrift_proxy's rate limit filter with route
// descriptors (":method-name" for the method).
//
// # Transport and protocol
//
// thrift_proxy detects the transport (framed, unframed, header) and the
// protocol (binary, compact, twitter) unless told. A port tells it with
// words in its name or appProtocol, in any order after "thrift":
// "tcp-thrift-framed-binary", "thrift-header-compact",
// "tcp-metaprotocol-thrift-unframed-laxbinary-users". Transport words are
// framed, unframed, header; protocol words are binary, laxbinary (or
// lax-binary), compact, twitter; other words are just part of the name.
// When the port says nothing about one of them, an ApplicationProtocol
// whose spec.protocol is "thrift" may, with the same words in its codec
// ("thrift-framed-compact"; Aeraki's "aeraki.meta_protocol.codec.thrift"
// says nothing, so auto-detection stays). A port or ApplicationProtocol
// naming two transports or two protocols is reported and auto-detection
// is used for that part.
package thrift
