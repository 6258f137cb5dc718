// Package metaprotocol is aeraki's plugin for user-defined protocols: it
// claims every tcp-metaprotocol-<name> port (and appProtocol of that form)
// that no other plugin claims by name, and builds it from the
// ApplicationProtocol whose spec.protocol is <name>, which says which codec
// parses the traffic.
//
// Which filter carries a port follows from the build (profile) of the
// proxy the port is built for (BuildContext.Profile; docs/profiles.md):
//
//   - Dubbo ("aeraki.meta_protocol.codec.dubbo", "envoy.generic_proxy.codecs.dubbo"
//     or "dubbo"): Envoy's dubbo_proxy on builds without generic_proxy (the
//     default istio-proxy) and for ports whose routes split by weight;
//     generic_proxy with the Dubbo codec otherwise. Attributes as in the
//     Dubbo plugin (interface, method, attachments);
//   - HTTP/1 ("envoy.generic_proxy.codecs.http1" or "http1"): generic_proxy
//     with the HTTP/1 codec, where the build has it; attributes host, path
//     and method are the request's, every other attribute is a header.
//
// Every other codec (brpc, trpc, qza, videopacket, ...) exists only in
// Aeraki's meta-protocol proxy, a custom Envoy build. Proxies whose build
// is aeraki-meta-protocol-proxy (--sidecar-proxy aeraki-meta-protocol-proxy,
// --waypoint-proxy likewise) get Aeraki's MetaProtocolProxy filter
// (aeraki.meta_protocol_proxy), carried as an xds.type.v3.TypedStruct (so
// aeraki needs no Aeraki Go code) with the codec and an inline route
// table: attributes match the metadata the codec extracts, weighted
// destinations, and request and response mutations.
//
// A codec no configured build can carry is an error on the
// ApplicationProtocol (and its MetaRouters), naming the codec and the
// builds that would carry it; its ports stay plain TCP. A codec some
// configured build carries but a given proxy's build does not leaves that
// proxy's ports at TCP, with a warning naming the role and build. The old
// option metaprotocol.aeraki-proxy is refused with a pointer to
// --sidecar-proxy: stock Envoy rejects the filter and with it the whole
// listener, so the build, not a switch, must say whether it is there.
//
// What a data plane cannot carry (generic_proxy: mirrors, mutations,
// faults; the meta-protocol proxy route: mirrors, timeouts, retries,
// faults; rate limits in both) is reported on the MetaRouter as a warning.
package metaprotocol
