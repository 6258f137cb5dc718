// Package genericproxy builds Envoy's generic_proxy network filter
// (envoy.filters.network.generic_proxy) and its route table from
// protocol-neutral routes. Any protocol with a generic_proxy codec in stock
// Envoy (Dubbo, HTTP/1) or in a custom build can be routed by a plugin in a
// few lines: pick the codec, say which MetaRouter attributes map to the
// codec's host, path and method, and every other attribute becomes a
// property match.
//
// generic_proxy is in upstream Envoy's build but not in istio-proxy's:
// check BuildContext.Profile before choosing it. It does not implement
// weighted clusters, so routes that split calls by weight need another
// filter (Weighted finds them), and every route gets an explicit timeout
// (0s, none, unless the route sets one) instead of Envoy's 15 s default.
//
// What generic_proxy cannot carry (mirrors, request and response
// mutations, fault injection, per-try timeouts) is reported on the
// MetaRouter as a warning and left out, never dropped silently.
package genericproxy
