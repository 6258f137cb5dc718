package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/internal/xdsload"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// ambientSnapshot loads xdsload's generated mesh, plus extra documents.
func ambientSnapshot(tb testing.TB, services, nodes int, extra string) *model.Snapshot {
	tb.Helper()
	dir := tb.TempDir()
	if err := xdsload.Generate(dir, xdsload.MeshOptions{Services: services, Nodes: nodes}); err != nil {
		tb.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	b := model.NewBuilder(model.Options{})
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range file.LoadBytes(filepath.Base(f), data, b, file.Options{}) {
			if d.Severity == model.SeverityError {
				tb.Fatal(d)
			}
		}
	}
	if extra != "" {
		for _, d := range file.LoadBytes("extra.yaml", []byte(extra), b, file.Options{}) {
			if d.Severity == model.SeverityError {
				tb.Fatal(d)
			}
		}
	}
	return b.Build()
}

// changedResources compares two translations' proxy resources by name and
// encoding: per proxy id, the number and protobuf bytes of those added or
// changed.
func changedResources(before, after *translate.Output) map[string][2]int {
	enc := func(p *translate.ProxyResult) map[string][]byte {
		out := map[string][]byte{}
		for _, m := range proxyMessages(p.Proxy) {
			b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			out[fmt.Sprintf("%T/%s", m, resourceName(m))] = b
		}
		return out
	}
	prev := map[string]map[string][]byte{}
	for _, p := range before.Proxies {
		prev[p.ID] = enc(p)
	}
	res := map[string][2]int{}
	for _, p := range after.Proxies {
		old := prev[p.ID]
		for name, b := range enc(p) {
			if string(old[name]) != string(b) {
				c := res[p.ID]
				res[p.ID] = [2]int{c[0] + 1, c[1] + len(b)}
			}
		}
	}
	return res
}

func resourceName(m proto.Message) string {
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	if n, ok := m.(interface{ GetClusterName() string }); ok {
		return n.GetClusterName()
	}
	return ""
}

// BenchmarkZtunnelPodAdd is ztunnel churn in a running server: a client
// pod added to (and, every other op, removed from) node-7 of an ambient
// mesh of 5,000 Dubbo services over 100 nodes (xdsload's mesh: 10
// namespaces with a waypoint each). It reports the proxies rebuilt,
// reassembled (a shared piece swapped in) and pushed per op and what a
// delta client gets: the resources (and bytes) that changed for node-7's
// ztunnel and for each other ztunnel. The pod's address is in a /24 the
// mesh's pods already use (range=existing: one shard of
// ztunnel_outbound_pods changes) or in a new one (range=new: the shard is
// new, and the dispatcher's entry for it).
//
//	go test ./internal/server -run '^$' -bench ZtunnelPodAdd -benchtime 4x
func BenchmarkZtunnelPodAdd(b *testing.B) {
	for _, c := range []struct{ name, ip string }{{"range=existing", "10.100.7.251"}, {"range=new", "10.240.0.7"}} {
		b.Run(c.name, func(b *testing.B) { benchmarkZtunnelPodAdd(b, c.ip) })
	}
}

func benchmarkZtunnelPodAdd(b *testing.B, ip string) {
	const services, nodes = 5000, 100
	pod := `apiVersion: v1
kind: Pod
metadata: {name: client, namespace: load-1, labels: {app: client}}
spec: {nodeName: node-7, serviceAccountName: client}
status: {phase: Running, podIP: ` + ip + `}
`
	snaps := []*model.Snapshot{ambientSnapshot(b, services, nodes, ""), ambientSnapshot(b, services, nodes, pod)}
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Registry: reg, Source: nopSource{}, XDSAddress: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	first, _ := s.generate(snaps[0])
	added, _ := s.generate(snaps[1])
	diff := changedResources(first, added)
	s.generate(snaps[0])
	var built, reused, reassembled, pushed, i int
	var work time.Duration
	b.ResetTimer()
	for range b.N {
		i++
		out, stats := s.generate(snaps[i%2])
		built += out.Stats.ProxiesBuilt
		reused += out.Stats.ProxiesReused
		reassembled += out.Stats.ProxiesReassembled
		pushed += stats.ProxiesChanged
		work += out.Stats.Duration
	}
	b.StopTimer()
	var otherN, otherBytes, others int
	for id, c := range diff {
		if id != hbone.ZtunnelID("node-7") && len(id) > 8 && id[:8] == "ztunnel/" {
			others++
			otherN += c[0]
			otherBytes += c[1]
		}
	}
	b.ReportMetric(float64(built)/float64(b.N), "proxies-built/op")
	b.ReportMetric(float64(reused)/float64(b.N), "proxies-reused/op")
	b.ReportMetric(float64(reassembled)/float64(b.N), "proxies-reassembled/op")
	b.ReportMetric(float64(pushed)/float64(b.N), "proxies-pushed/op")
	b.ReportMetric(float64(diff[hbone.ZtunnelID("node-7")][0]), "node7-resources")
	b.ReportMetric(float64(diff[hbone.ZtunnelID("node-7")][1]), "node7-bytes")
	b.ReportMetric(float64(others), "other-ztunnels-changed")
	if others > 0 {
		b.ReportMetric(float64(otherN)/float64(others), "resources/other-ztunnel")
		b.ReportMetric(float64(otherBytes)/float64(others), "bytes/other-ztunnel")
	}
	b.ReportMetric(float64(work.Milliseconds())/float64(b.N), "translate-ms/op")
}
