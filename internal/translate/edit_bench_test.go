package translate_test

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// benchMesh is n Dubbo services in 100 namespaces, each with a
// DestinationRule and a MetaRouter; changed names the service whose
// router routes sayGoodbye instead of sayHello.
func benchMesh(n int, changed string) string {
	var b strings.Builder
	for i := range n {
		name, ns := fmt.Sprintf("svc-%05d", i), fmt.Sprintf("ns-%02d", i%100)
		method := "sayHello"
		if name == changed {
			method = "sayGoodbye"
		}
		b.WriteString("---\n")
		b.WriteString(dubboServiceDocs(name, ns, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), method))
	}
	return b.String()
}

func benchSnapshot(b *testing.B, mesh string) *model.Snapshot {
	b.Helper()
	builder := model.NewBuilder(model.Options{Kinds: builtinKinds(b)})
	for _, d := range file.LoadBytes("mesh.yaml", []byte(mesh), builder, file.Options{}) {
		if d.Severity == model.SeverityError {
			b.Fatalf("generated mesh: %s", d)
		}
	}
	return builder.Build()
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMetaRouterEditBuiltin is one MetaRouter edit translated with
// every built-in plugin, whose Redis, Thrift and meta-protocol plugins
// validate routing objects (the server benchmark's registry has no
// validator): the snapshots alternate between two that differ in one
// router.
func BenchmarkMetaRouterEditBuiltin(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			snaps := []*model.Snapshot{benchSnapshot(b, benchMesh(n, "")), benchSnapshot(b, benchMesh(n, "svc-00000"))}
			tr := builtinTranslator(b)
			tr.Translate(snaps[0])
			runtime.GC()
			var cpu time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				c0 := processCPU()
				out := tr.Translate(snaps[i%2])
				cpu += processCPU() - c0
				if out.Stats.UnitsBuilt != 1 {
					b.Fatalf("%d units built", out.Stats.UnitsBuilt)
				}
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
