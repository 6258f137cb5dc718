// Package metaroute turns MetaRouters (and, for protocols that honour
// them, Istio VirtualServices) into a protocol-neutral list of routes that
// a plugin expresses in its own data plane's terms: generic_proxy matcher
// trees, thrift_proxy routes, dubbo_proxy routes.
//
// It owns the semantics every protocol shares, so they are the same for
// Dubbo, Thrift and a third-party protocol: routes are tried in order; a
// route without a match catches everything; when no route catches
// everything a default route to the service is appended; destinations
// resolve to Istio's cluster names for the proxy role; a destination port
// left out means the port being built. [Validate] checks a MetaRouter
// against the mesh before any plugin sees it.
package metaroute
