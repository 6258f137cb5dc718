package hbone_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// waypointMesh is the mesh of BenchmarkWaypointVsIstiod (pkg/aeraki), as
// files: one ambient namespace whose services are all bound to one aeraki
// waypoint; n Services with a Dubbo port, each with a DestinationRule
// (subsets v1, v2), two captured Pods (v1, v2) on 10 nodes and an
// EndpointSlice.
func waypointMesh(tb testing.TB, n int) *model.Snapshot {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`apiVersion: v1
kind: Namespace
metadata: {name: bench, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: aeraki-wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: aeraki-wp, namespace: bench}
spec:
  gatewayClassName: aeraki-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status: {addresses: [{type: IPAddress, value: 10.96.255.1}]}
`)
	for i := range n {
		name := fmt.Sprintf("svc-%05d", i)
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: bench}
spec:
  clusterIP: 10.96.%[2]d.%[3]d
  selector: {app: %[1]s}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: bench}
spec:
  host: %[1]s.bench.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-0, namespace: bench, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: tcp-dubbo, port: 20880}]
endpoints:
- {addresses: [10.128.%[2]d.%[3]d], conditions: {ready: true}, targetRef: {kind: Pod, name: %[1]s-v1, namespace: bench}}
- {addresses: [10.129.%[2]d.%[3]d], conditions: {ready: true}, targetRef: {kind: Pod, name: %[1]s-v2, namespace: bench}}
`, name, i>>8&255, i&255)
		for v := range 2 {
			fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata: {name: %[1]s-v%[2]d, namespace: bench, labels: {app: %[1]s, version: v%[2]d}}
spec: {nodeName: node-%[3]d}
status: {phase: Running, podIP: 10.%[4]d.%[5]d.%[6]d}
`, name, v+1, i%10, 128+v, i>>8&255, i&255)
		}
	}
	bld := model.NewBuilder(model.Options{})
	for _, d := range file.LoadBytes("mesh.yaml", []byte(b.String()), bld, file.Options{}) {
		if d.Severity == model.SeverityError {
			tb.Fatal(d)
		}
	}
	return bld.Build()
}

// BenchmarkWaypointBuild is the in-process side of
// BenchmarkWaypointVsIstiod (pkg/aeraki, docs/performance.md "Waypoint
// config side by side with istiod"): a fresh translation of a mesh of
// only one waypoint's inputs, reporting the waypoint's own build
// (translate.ProxyCost.Build: its ProxyBuilder with the units it
// consumes, the checks and the assembly) and the whole translation, which
// also builds the ztunnels of the pods' nodes and the sidecar units of
// every service from the same inputs (both means over the iterations):
//
//	go test ./plugins/hbone -run '^$' -bench WaypointBuild -benchtime 5x
func BenchmarkWaypointBuild(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			snap := waypointMesh(b, n)
			d, _ := dubbo.New(dubbo.Options{})
			reg, err := plugin.NewRegistry(d, hbone.New())
			if err != nil {
				b.Fatal(err)
			}
			var build, whole float64
			for range b.N {
				tr, err := translate.New(translate.Options{Registry: reg})
				if err != nil {
					b.Fatal(err)
				}
				out := tr.Translate(snap)
				whole += float64(out.Stats.Duration.Microseconds()) / 1000
				var cost translate.ProxyCost
				for _, p := range out.Proxies {
					if p.ID == hbone.WaypointID("bench", "aeraki-wp") {
						cost = p.Cost
					}
				}
				build += float64(cost.Build.Microseconds()) / 1000
				if cost.UnitsConsumed != n {
					b.Fatalf("waypoint consumed %d units, want %d", cost.UnitsConsumed, n)
				}
			}
			b.ReportMetric(build/float64(b.N), "waypoint-build-ms")
			b.ReportMetric(whole/float64(b.N), "translation-ms")
		})
	}
}
