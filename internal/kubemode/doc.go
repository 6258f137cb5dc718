// Package kubemode is `aeraki serve` in Kubernetes mode: one
// controller-runtime informer cache shared by the Kubernetes source
// (internal/source/kube) and the status writer (internal/status), and a
// Lease-based leader election that decides which replica writes status.
//
// Mode is itself a source.Source, so the server runs it like any other
// source and needs to know nothing of Kubernetes: Run starts the cache, the
// election and the source together, and stops them together. Every replica
// watches, translates and serves xDS and MCP; only the leader writes status
// (docs/architecture.md, "Replicas"). Losing the Lease stops the writes, not the serving, and
// the replica campaigns again.
//
// /ready needs no help from here: the server is ready once it published
// its first generation, and the source delivers its first snapshot only
// after every informer has synced.
package kubemode
