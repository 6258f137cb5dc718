// Package proxyless is the built-in plugin that configures proxyless gRPC
// clients (grpc-go's xDS resolver, `xds:///host:port` targets) straight
// from aeraki over ADS.
//
// It exists so that aeraki's per-node ADS serving has a real consumer
// before the ambient (waypoint, ztunnel) plugin lands, and because the
// same mesh model (services, ports, endpoints) is all a gRPC client needs.
//
// A node is proxyless when its metadata has PROXYLESS set to "true" (or
// true), or when its node id starts with "proxyless~". Every such node gets
// the same config, proxy id "proxyless": for every service port whose
// protocol is gRPC or HTTP (model.ProtocolHTTP: port names grpc-*, http-*,
// http2-*, or appProtocol grpc/http/http2), one API listener named
// "<host>:<port>" (an HttpConnectionManager with RDS and the router
// filter, which grpc-go requires), one RouteConfiguration of the same
// name whose virtual host answers for the host and its short forms, one
// EDS cluster "outbound|<port>||<host>" and its ClusterLoadAssignment with
// the port's ready endpoints. Ports of other protocols are left out: a
// gRPC client cannot speak Dubbo or Redis, and opaque TCP would give it a
// listener it cannot use.
package proxyless
