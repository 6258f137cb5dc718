// Command xdsload is aeraki's ADS load client (package xdsload): `gen`
// writes a mesh for `aeraki serve --config-dir`, `run` opens the streams
// against the serving aeraki and prints what it measured.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/aeraki-ng/aeraki/internal/xdsload"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "gen" && os.Args[1] != "run") {
		fmt.Fprintln(os.Stderr, "usage: xdsload gen|run [flags] (xdsload gen -h, xdsload run -h)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("xdsload "+os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "the mesh directory (aeraki serve --config-dir)")
	services := fs.Int("services", 1000, "Dubbo services in the mesh")
	nodes := fs.Int("nodes", 100, "nodes (ztunnels) in the mesh")
	addr := fs.String("addr", "127.0.0.1:15010", "aeraki's plaintext xDS address (serve with --insecure-plaintext-proxies)")
	debug := fs.String("debug", "127.0.0.1:15014", "aeraki's debug address (serve with --pprof), for its heap; empty for none")
	streams := fs.Int("streams", 100, "ADS streams: a third each ztunnels, waypoints, proxyless; half of each delta")
	timeout := fs.Duration("timeout", 2*time.Minute, "bound of each phase")
	heapProfile := fs.String("heap-profile", "", "save aeraki's heap profile here once every stream has its config (needs -debug)")
	_ = fs.Parse(os.Args[2:])
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "xdsload: -dir is required")
		os.Exit(2)
	}
	if os.Args[1] == "gen" {
		if err := xdsload.Generate(*dir, xdsload.MeshOptions{Services: *services, Nodes: *nodes}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := xdsload.Run(ctx, xdsload.Options{Address: *addr, DebugAddress: *debug, Dir: *dir, Services: *services, Nodes: *nodes, Streams: *streams, Timeout: *timeout, HeapProfile: *heapProfile})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("streams %d: all had config and ACKed in %s\n", r.Streams, r.Initial.Round(time.Millisecond))
	if r.HeapAfter > 0 {
		fmt.Printf("aeraki live heap: %.1f MiB before, %.1f MiB with the streams: %.1f KiB per stream\n",
			float64(r.HeapBefore)/(1<<20), float64(r.HeapAfter)/(1<<20), r.PerStream()/1024)
	}
	q := func(d []time.Duration, p float64) string {
		return xdsload.Quantile(d, p).Round(time.Millisecond).String()
	}
	fmt.Printf("change -> first response: p50 %s, p90 %s, p99 %s, max %s over %d streams; %d got nothing within %s\n",
		q(r.Received, 0.5), q(r.Received, 0.9), q(r.Received, 0.99), q(r.Received, 1), len(r.Received), r.Unchanged, *timeout)
	fmt.Printf("change -> last changed type: p50 %s, max %s; its ACK sent: max %s; streams by changed types %v\n",
		q(r.Last, 0.5), q(r.Last, 1), q(r.LastAcked, 1), r.Types)
	for _, m := range r.Missing {
		fmt.Printf("  no change: %s\n", m)
	}
	fmt.Printf("change -> ACK sent: p50 %s, max %s\n", q(r.Acked, 0.5), q(r.Acked, 1))
	kinds := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Printf("  slowest %-16s %s\n", k, r.ByKind[k].Round(time.Millisecond))
	}
	if r.DeltaStreams > 0 {
		fmt.Printf("delta streams: %.1f resources per stream in the change's responses\n", float64(r.DeltaResources)/float64(r.DeltaStreams))
	}
}
