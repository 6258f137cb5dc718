// Package server is `aeraki serve`: the running control plane
// (docs/architecture.md). It takes snapshots from a source, has the translator turn
// them into config, and serves that config over gRPC on a TLS address
// (15012) and a plaintext one (15010), each optional:
//
//   - to istiod over MCP (xDS carrying Istio config, `configSources:
//     xds://host:port`): every collection istiod subscribes to, by Istio
//     GVK type URL, with aeraki's EnvoyFilters in
//     networking.istio.io/v1alpha3/EnvoyFilter and every other collection
//     answered empty so istiod counts the source as synced;
//   - to Envoy-based proxies and proxyless gRPC clients over ADS
//     (listeners, routes, clusters, endpoints, secrets), one config per
//     proxy id, chosen by asking each plugin.ProxyBuilder to MatchNode the
//     connecting node.
//
// On the TLS address a client's certificate (verified against the mesh
// root) decides what it may read: each proxy's config goes only to the
// identities its plugin's plugin.ProxyAuthorizer accepts; MCP to any
// client or to Authorization.MCPIdentities. The plaintext address serves
// MCP without the EnvoyFilters holding credentials and no proxy config,
// unless the Authorization's insecure options say otherwise. Limits bound
// the streams, and a proxy's cache entry lives only while streams use it
// (plus a grace period). docs/security.md has the threat model.
//
// Both state-of-the-world and delta ADS are served. Versions are content
// hashes, so they survive restarts and a replica serves the same versions
// as its peers. The server never builds or edits config: a resource the
// translator's validation gate rejected never reaches it, and a proxy whose
// rebuild failed keeps the config it had.
//
// Beside the gRPC server it runs the operations endpoints: Prometheus
// metrics (/metrics), and on the debug address /ready, /debug/config_dump,
// /debug/syncz, /debug/diagnostics and, when enabled, pprof.
package server
