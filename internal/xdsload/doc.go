// Package xdsload is a load client for aeraki's ADS server, run in its own
// process (cmd/xdsload) so that what it measures is aeraki's cost, not the
// client's: it opens many concurrent ADS streams, state-of-the-world and
// delta, posing as ztunnels, waypoints and proxyless gRPC clients, waits
// until every stream has its config and has ACKed it, then makes one
// change to the mesh (a new file in the --config-dir aeraki watches) and
// measures, per stream, the time from the write to the receipt of the
// changed listeners and clusters and to the ACK sent back. With aeraki's
// --pprof it also reads aeraki's live heap (after a GC) before the streams
// open and once they all have their config: the memory one stream costs
// beyond the shared snapshot.
//
// Generate writes the mesh it expects (ambient namespaces, Dubbo
// services with pods spread over nodes, aeraki waypoints), so a run is
//
//	go run ./internal/xdsload/cmd/xdsload gen -dir /tmp/mesh -services 1000 -nodes 100
//	aeraki serve --config-dir /tmp/mesh --insecure-plaintext-proxies --pprof &
//	go run ./internal/xdsload/cmd/xdsload run -dir /tmp/mesh -streams 1000
//
// docs/performance.md has the figures.
package xdsload
