package hbone

import (
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// The scaling rule of docs/ambient.md: a ztunnel's config grows as (local
// workloads + services), never as their product. These measure the bytes
// of one node's listeners and clusters (and, separately, its EDS
// endpoints) for a mesh of `services` services, each backed by one pod on
// another node, and `pods` captured pods on the node, five per service
// account.

// scaleMesh builds the snapshot.
func scaleMesh(tb testing.TB, pods, services int) *model.Snapshot {
	tb.Helper()
	b := model.NewBuilder(model.Options{})
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(b.Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench", Labels: map[string]string{model.LabelDataplaneMode: "ambient"}}}, model.Origin{}))
	pod := func(name, ip, node, sa string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench", Labels: labels},
			Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: sa}, Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip}}
	}
	for i := 0; i < pods; i++ {
		must(b.Add(pod(fmt.Sprintf("local-%d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), "local", fmt.Sprintf("app-%d", i/5), nil), model.Origin{}))
	}
	for i := 0; i < services; i++ {
		app := map[string]string{"app": fmt.Sprintf("svc-%d", i)}
		must(b.Add(pod(fmt.Sprintf("backend-%d", i), fmt.Sprintf("10.2.%d.%d", i/250, i%250+1), fmt.Sprintf("remote-%d", i%10), fmt.Sprintf("svc-%d", i), app), model.Origin{}))
		must(b.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Namespace: "bench"},
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), Selector: app,
				Ports: []corev1.ServicePort{{Name: "tcp-app", Port: 8080}}}}, model.Origin{}))
	}
	return b.Build()
}

// ztunnelSize is the bytes of the local node's listeners+clusters and of its endpoints.
func ztunnelSize(tb testing.TB, snap *model.Snapshot) (config, endpoints int) {
	tb.Helper()
	ctx := plugin.NewProxyContext(Name, snap.View(), nil)
	p, err := New().BuildProxy(ctx, ZtunnelID("local"))
	if err != nil {
		tb.Fatal(err)
	}
	p = p.WithPieces(ctx.Included()...)
	for _, l := range p.Listeners {
		config += proto.Size(l)
	}
	for _, c := range p.Clusters {
		config += proto.Size(c)
	}
	for _, e := range p.Endpoints {
		endpoints += proto.Size(e)
	}
	return config, endpoints
}

// TestZtunnelConfigGrowsAsPodsPlusServices checks the rule on small
// meshes: what one more local pod costs does not depend on the number of
// services, and what one more service costs does not depend on the number
// of local pods.
func TestZtunnelConfigGrowsAsPodsPlusServices(t *testing.T) {
	size := map[[2]int]int{}
	for _, pods := range []int{10, 50} {
		for _, services := range []int{100, 500} {
			size[[2]int{pods, services}], _ = ztunnelSize(t, scaleMesh(t, pods, services))
		}
	}
	perPod := func(services int) float64 {
		return float64(size[[2]int{50, services}]-size[[2]int{10, services}]) / 40
	}
	perService := func(pods int) float64 {
		return float64(size[[2]int{pods, 500}]-size[[2]int{pods, 100}]) / 400
	}
	if a, b := perPod(100), perPod(500); math.Abs(a-b) > 0.02*a {
		t.Errorf("bytes per local pod: %.0f with 100 services, %.0f with 500: a pod's cost must not depend on the services", a, b)
	}
	if a, b := perService(10), perService(50); math.Abs(a-b) > 0.02*a {
		t.Errorf("bytes per service: %.0f with 10 pods, %.0f with 50: a service's cost must not depend on the local pods", a, b)
	}
	t.Logf("bytes per local pod %.0f, per service %.0f", perPod(500), perService(50))
}

// BenchmarkZtunnelConfig reports the size of one node's ztunnel config
// (docs/performance.md, "Ambient"): go test ./plugins/hbone -run ^$ -bench ZtunnelConfig
func BenchmarkZtunnelConfig(b *testing.B) {
	for _, services := range []int{1000, 5000} {
		for _, pods := range []int{10, 50, 100} {
			b.Run(fmt.Sprintf("pods=%d/services=%d", pods, services), func(b *testing.B) {
				snap := scaleMesh(b, pods, services)
				var config, eds int
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					config, eds = ztunnelSize(b, snap)
				}
				b.ReportMetric(float64(config), "lds+cds-bytes")
				b.ReportMetric(float64(eds), "eds-bytes")
			})
		}
	}
}
