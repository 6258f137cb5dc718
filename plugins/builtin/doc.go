// Package builtin is the default plugin set of the aeraki binary: Dubbo,
// Thrift, Redis, meta-protocol, HBONE (ambient ztunnels and waypoints) and
// proxyless gRPC. The core does not import it: cmd/aeraki passes this set
// to aeraki.Main, and a custom build passes its own list, which may drop a
// builtin (a build without hbone serves sidecars only) or replace one (its
// own dubbo plugin in place of this one).
package builtin
