package server

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/proxyless"
)

// Benchmarks of DESIGN's performance story, with results in
// docs/performance.md (the file source's reload is measured by
// internal/source/file's BenchmarkReload). Run them with
//
//	go test ./internal/server -run '^$' -bench . -benchtime 3x
//
// The mesh is n Dubbo services in 100 namespaces, each with a
// DestinationRule (subsets v1, v2) and a MetaRouter (sayHello -> v2 90% /
// v1 10%, everything else -> v1).

// meshYAML renders the mesh, one file per namespace; changed names the
// service whose MetaRouter routes sayGoodbye instead of sayHello ("" for none).
func meshYAML(n int, changed string) map[string]string {
	files := map[string]*strings.Builder{}
	for i := range n {
		ns := fmt.Sprintf("ns-%02d", i%100)
		name := fmt.Sprintf("svc-%05d", i)
		method := "sayHello"
		if name == changed {
			method = "sayGoodbye"
		}
		f := files[ns]
		if f == nil {
			f = &strings.Builder{}
			files[ns] = f
		}
		fmt.Fprintf(f, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  clusterIP: 10.%[3]d.%[4]d.%[5]d
  selector: {app: %[1]s}
  ports:
  - {name: tcp-dubbo, port: 20880}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  host: %[1]s
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  hosts: [%[1]s]
  routes:
  - name: hello
    match:
      attributes:
        method: {exact: %[6]s}
    route:
    - {destination: {host: %[1]s, subset: v2}, weight: 90}
    - {destination: {host: %[1]s, subset: v1}, weight: 10}
  - name: default
    route:
    - destination: {host: %[1]s, subset: v1}
`, name, ns, i>>16&255, i>>8&255, i&255, method)
	}
	out := map[string]string{}
	for ns, f := range files {
		out[ns+".yaml"] = f.String()
	}
	return out
}

// meshSnapshot builds the mesh's snapshot the way the file source does.
func meshSnapshot(tb testing.TB, n int, changed string) *model.Snapshot {
	tb.Helper()
	b := model.NewBuilder(model.Options{})
	for name, content := range meshYAML(n, changed) {
		for _, d := range file.LoadBytes(name, []byte(content), b, file.Options{}) {
			if d.Severity == model.SeverityError {
				tb.Fatalf("generated mesh: %s", d)
			}
		}
	}
	return b.Build()
}

// nopSource is a source that never sends; benchmarks feed the server directly.
type nopSource struct{}

func (nopSource) Run(ctx context.Context, _ chan<- source.Update) error { <-ctx.Done(); return nil }

// benchServer is a server as `aeraki serve` builds it, not listening.
func benchServer(tb testing.TB) *Server {
	tb.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, proxyless.New())
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Registry: reg, Source: nopSource{}, XDSAddress: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// generate is one generation: translate and publish to the caches.
func (s *Server) generate(snap *model.Snapshot) (*translate.Output, publishStats) {
	out := s.translator.Translate(snap)
	stats, _ := s.pub.publish(out)
	return out, stats
}

// changedObjects returns the objects of a whose revision is not the one
// b holds (or that b lacks).
func changedObjects(a, b *model.Snapshot) []model.ObjectInfo {
	var out []model.ObjectInfo
	for _, o := range a.Objects() {
		if p, ok := b.Object(o.Ref); !ok || p.Revision != o.Revision {
			out = append(out, o)
		}
	}
	return out
}

// marshalFloor times the bare protobuf encoding of everything a
// generation produces (every EnvoyFilter as the MCP resource istiod gets,
// every proxy resource): no generation can be faster than writing its
// output once. It returns the best of a few runs.
func marshalFloor(out *translate.Output) time.Duration {
	specs := decodeSpecs(out)
	best := time.Duration(1<<63 - 1)
	for range 3 {
		best = min(best, marshalOnce(out))
	}
	runtime.KeepAlive(specs)
	return best
}

// decodeSpecs decodes every EnvoyFilter's spec, which the floor encodes,
// outside its timing: an EnvoyFilter keeps the decoding only while
// someone holds it (EnvoyFilter.Spec), which the caller does with what
// this returns.
func decodeSpecs(out *translate.Output) []*networkingv1alpha3.EnvoyFilter {
	specs := make([]*networkingv1alpha3.EnvoyFilter, 0, len(out.EnvoyFilters))
	for _, ef := range out.EnvoyFilters {
		specs = append(specs, ef.Spec())
	}
	return specs
}

// marshalOnce times one encoding of the output.
func marshalOnce(out *translate.Output) time.Duration {
	start := time.Now()
	for _, ef := range out.EnvoyFilters {
		// proto.Marshal of the spec, not the translator's encoding that
		// the publisher sends (EncodedSpec): the floor stays the bare
		// protobuf encoding of the output.
		if _, err := encodeResource(ef); err != nil {
			panic(err)
		}
	}
	for _, p := range out.Proxies {
		for _, m := range proxyMessages(p.Proxy) {
			if _, err := proto.Marshal(m); err != nil {
				panic(err)
			}
		}
	}
	return time.Since(start)
}

func proxyMessages(p *plugin.Proxy) []proto.Message {
	var out []proto.Message
	for _, r := range p.Listeners {
		out = append(out, r)
	}
	for _, r := range p.Routes {
		out = append(out, r)
	}
	for _, r := range p.Clusters {
		out = append(out, r)
	}
	for _, r := range p.Endpoints {
		out = append(out, r)
	}
	return out
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkFullGeneration is a cold start: a new server translates the
// whole mesh and publishes it. The floor is measured after every
// generation, outside the timer, so on a shared machine both see the same
// load and x-marshal is a ratio taken in one run; each is followed by a
// forced GC, timed with it, so that neither pays for the other's garbage.
func BenchmarkFullGeneration(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			snap := meshSnapshot(b, n, "")
			base := heapInUse() // the snapshot, as the source holds it
			var kept *Server
			var out *translate.Output
			var floor, genCPU, floorCPU time.Duration
			var heap uint64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				// The last iteration's server and output are garbage for
				// this one, as nothing precedes a cold start: left
				// reachable, every collection during this generation would
				// mark them again (~0.3 GB at 10,000 services).
				kept, out = nil, nil
				runtime.GC()
				c0 := cpuTime()
				kept = benchServer(b)
				out, _ = kept.generate(snap)
				runtime.GC() // each side pays for its own garbage
				b.StopTimer()
				c1 := cpuTime()
				// What a running server holds for the mesh beyond the
				// snapshot: the translator's caches, the output, the xDS
				// caches (publishing never decodes the patch values).
				heap = heapInUse()
				// The floor encodes the specs as proto messages, patch
				// Structs and all: decoding those (EnvoyFilter.Spec, which
				// only render and debug output need) counts for neither side.
				specs := decodeSpecs(out)
				// Nor does their garbage: a collection that decoding
				// started would otherwise run on into the floor's window
				// and count as its CPU (the process's), which moved the
				// ratio by as much as the work either side did.
				runtime.GC()
				c2 := cpuTime()
				f0 := time.Now()
				marshalOnce(out)
				runtime.GC()
				floor += time.Since(f0)
				runtime.KeepAlive(specs) // through the floor, as the EnvoyFilters kept them before
				genCPU, floorCPU = genCPU+c1-c0, floorCPU+cpuTime()-c2
				b.StartTimer()
			}
			b.StopTimer()
			floor /= time.Duration(b.N)
			perOp := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(perOp)/float64(floor), "x-marshal")
			// The same in CPU time of this process (GC included), which the
			// other processes of a shared machine disturb far less.
			b.ReportMetric(float64(genCPU)/float64(floorCPU), "x-marshal-cpu")
			b.ReportMetric(float64(floor.Microseconds())/1000, "marshal-ms")
			b.ReportMetric(float64(len(out.EnvoyFilters)), "envoyfilters")
			b.ReportMetric(float64(out.Stats.UnitsBuilt), "units-built")
			b.ReportMetric(float64(heap-min(heap, base))/(1<<20), "MB-heap")
			runtime.KeepAlive(kept)
			runtime.KeepAlive(out)
		})
	}
}

// BenchmarkMetaRouterChange is one MetaRouter edit in a running server,
// as the sources make it: each snapshot is an Edit of the last one that
// puts one MetaRouter (its routes alternate between two versions), and
// the edit's work is deriving that snapshot and generating from it.
func BenchmarkMetaRouterChange(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			cur := meshSnapshot(b, n, "")
			versions := [][]model.ObjectInfo{changedObjects(meshSnapshot(b, n, "svc-00000"), cur), changedObjects(cur, meshSnapshot(b, n, "svc-00000"))}
			if len(versions[0]) != 1 || len(versions[1]) != 1 {
				b.Fatalf("the two meshes differ in %d and %d objects, want one MetaRouter", len(versions[0]), len(versions[1]))
			}
			s := benchServer(b)
			full, _ := s.generate(cur)
			floor := marshalFloor(full)
			var units, reused, changed, records, i int
			var cpu time.Duration
			runtime.GC() // the setup's garbage is not the edits' work
			b.ReportAllocs()
			for b.Loop() {
				i++
				var out *translate.Output
				var stats publishStats
				c0 := cpuTime()
				// Labelled so that a CPU profile of the edits alone is
				// `go tool pprof -tagfocus phase=edit`: the full generation
				// before the loop would dominate it otherwise.
				pprof.Do(context.Background(), pprof.Labels("phase", "edit"), func(context.Context) {
					e := cur.Edit()
					for _, o := range versions[(i-1)%2] {
						if err := e.Put(o.Object, o.Origin); err != nil {
							b.Fatal(err)
						}
					}
					cur = e.Build()
					out, stats = s.generate(cur)
				})
				cpu += cpuTime() - c0
				units += out.Stats.UnitsBuilt
				records += out.Stats.RecordsChecked
				reused += out.Stats.UnitsReused
				changed += stats.EnvoyFiltersChanged
			}
			perOp := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(perOp)/float64(floor), "x-marshal")
			// The CPU time of the process during the edits (GC included),
			// which the other processes of a shared machine disturb far
			// less than the wall time.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(units)/float64(b.N), "units-built/op")
			b.ReportMetric(float64(reused)/float64(b.N), "units-reused/op")
			b.ReportMetric(float64(changed)/float64(b.N), "envoyfilters-changed/op")
			// Units, proxies and router verdicts whose recorded reads were
			// read against the new snapshot (translate.Stats.RecordsChecked).
			b.ReportMetric(float64(records)/float64(b.N), "records-checked/op")
		})
	}
}
