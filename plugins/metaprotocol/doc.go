// Package metaprotocol is aeraki's plugin for user-defined protocols: it
// claims every tcp-metaprotocol-<name> port (and appProtocol of that form)
// that no other plugin claims by name, and builds it from the
// ApplicationProtocol whose spec.protocol is <name>, which says which codec
// parses the traffic.
//
// Codecs stock Envoy has become stock filters, through generic_proxy:
//
//   - Dubbo ("aeraki.meta_protocol.codec.dubbo", "envoy.generic_proxy.codecs.dubbo"
//     or "dubbo"): generic_proxy with the Dubbo codec, attributes as in the
//     Dubbo plugin (interface, method, attachments);
//   - HTTP/1 ("envoy.generic_proxy.codecs.http1" or "http1"): generic_proxy
//     with the HTTP/1 codec; attributes host, path and method are the
//     request's, every other attribute is a header.
//
// Every other codec (brpc, trpc, qza, videopacket, ...) exists only in
// Aeraki's meta-protocol proxy, a custom Envoy build. Users who run that
// proxy image can have aeraki program it with the option
// --plugin-option metaprotocol.aeraki-proxy=true: such ports then get
// Aeraki's MetaProtocolProxy filter (aeraki.meta_protocol_proxy), carried
// as an xds.type.v3.TypedStruct (so aeraki needs no Aeraki Go code) with
// the codec and an inline route table: attributes match the metadata the
// codec extracts, weighted destinations, and request and response
// mutations. With the option off (the default, since stock Envoy rejects
// the filter and with it the whole listener), the ApplicationProtocol and
// the MetaRouters for those ports get one error each naming the codec and
// the option, and the ports stay plain TCP.
//
// What a data plane cannot carry (generic_proxy: mirrors, mutations,
// faults; the meta-protocol proxy route: mirrors, timeouts, retries,
// faults; rate limits in both) is reported on the MetaRouter as a warning.
package metaprotocol
