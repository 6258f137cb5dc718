package render_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// BenchmarkRenderMemory renders generated meshes of Dubbo service ports,
// as `aeraki render` does (load, translate, stream the YAML to a sink),
// and reports the peak live heap per service port: "services" is n
// Services of one port each, "ports" one Service of n ports. Each port
// has an outbound and an inbound EnvoyFilter patch. Results and the
// command are in docs/performance.md.
func BenchmarkRenderMemory(b *testing.B) {
	defaults := builtin.Plugins()
	reg, err := plugin.NewRegistry(defaults...)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		shape string
		n     int
	}{{"services", 1000}, {"services", 10000}, {"ports", 1000}, {"ports", 10000}} {
		b.Run(fmt.Sprintf("%s=%d", c.shape, c.n), func(b *testing.B) {
			dir := b.TempDir()
			writeMesh(b, dir, c.shape, c.n)
			var peak uint64
			for b.Loop() {
				runtime.GC()
				base := liveHeap()
				stop := sampleHeap(&peak)
				res, err := render.RenderContext(context.Background(), render.Options{Paths: []string{dir}, Registry: reg})
				if err != nil {
					b.Fatal(err)
				}
				if err := res.WriteManifestsTo(context.Background(), io.Discard, "yaml"); err != nil {
					b.Fatal(err)
				}
				stop()
				peak -= min(peak, base)
				runtime.KeepAlive(res)
			}
			b.ReportMetric(float64(peak)/float64(c.n)/1024, "peak-KiB/port")
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}

func writeMesh(b *testing.B, dir, shape string, n int) {
	var s strings.Builder
	if shape == "ports" {
		s.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: demo}\nspec:\n  clusterIP: 10.0.0.1\n  selector: {app: big}\n  ports:\n")
		for p := 1; p <= n; p++ {
			fmt.Fprintf(&s, "  - {name: tcp-dubbo-%d, port: %d}\n", p, p)
		}
	} else {
		for i := range n {
			fmt.Fprintf(&s, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: demo}\nspec:\n  clusterIP: 10.%d.%d.%d\n  selector: {app: svc-%d}\n  ports:\n  - {name: tcp-dubbo, port: 20880}\n",
				i, i>>16, (i>>8)&255, i&255, i)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func liveHeap() uint64 {
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}

// sampleHeap records the largest heap of live and not yet swept objects
// every millisecond until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	*peak = 0
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			*peak = max(*peak, liveHeap())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
