// Package dubbo is aeraki's Dubbo plugin. It claims ports whose protocol is
// dubbo (tcp-dubbo, tcp-metaprotocol-dubbo, appProtocol dubbo) and builds,
// for each, the Dubbo filter the proxy's build (BuildContext.Profile) has:
//
//   - Envoy's dubbo_proxy on builds without generic_proxy (istio-proxy, the
//     sidecar default) and, on every build, for ports whose routes split
//     calls by weight (generic_proxy does not implement weighted clusters);
//     an info diagnostic says so when generic_proxy was available. One route
//     table per interface (dubbo_proxy matches the interface first), method
//     and attachment matches, subsets and weights;
//   - generic_proxy with the Dubbo codec elsewhere (the envoy build):
//     MetaRouter attributes "interface" and "method" become the codec's host
//     and method, every other attribute is matched against the call's
//     attachments. Every route gets an explicit timeout (the route's, else
//     0s: none).
//
// Plain tcp-dubbo ports also honour Istio VirtualServices, as Aeraki did
// (match.method, match.headers as attachments, weighted subsets); a
// MetaRouter for the same host takes precedence. Route parts the chosen
// filter cannot carry are warnings on the object.
//
// The option filter (auto, the default; generic_proxy; dubbo_proxy) forces
// one filter. Forcing generic_proxy where a route splits by weight is an
// error on the MetaRouter; forcing a filter the build lacks is refused by
// the translator's fidelity gate (an error naming the extension and the
// build; the proxy keeps its last good config), since Envoy would reject
// the whole listener.
package dubbo
