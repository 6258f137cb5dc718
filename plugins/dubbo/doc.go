// Package dubbo is aeraki's Dubbo plugin. It claims ports whose protocol is
// dubbo (tcp-dubbo, tcp-metaprotocol-dubbo, appProtocol dubbo) and builds,
// for each, Envoy's generic_proxy with the Dubbo codec: MetaRouter
// attributes "interface" and "method" become the codec's host and method,
// every other attribute is matched against the call's attachments.
//
// Plain tcp-dubbo ports also honour Istio VirtualServices, as Aeraki did
// (match.method, match.headers as attachments, weighted subsets); a
// MetaRouter for the same host takes precedence.
//
// The option filter=dubbo_proxy emits Envoy's older dubbo_proxy filter
// instead, for proxies built without generic_proxy; it routes on interface,
// method and attachments but has no timeouts or retries.
package dubbo
