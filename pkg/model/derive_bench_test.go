package model

import (
	"fmt"
	goruntime "runtime"
	"runtime/metrics"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// benchMesh is BenchmarkKubeColdStart's mesh (pkg/aeraki) without the
// API server: n Dubbo Services in 100 namespaces, each with a
// DestinationRule, a MetaRouter, a Pod and an EndpointSlice.
func benchMesh(n int) []runtime.Object {
	var out []runtime.Object
	for i := range 100 {
		out = append(out, &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ns-%02d", i)}})
	}
	pn, pp := "tcp-dubbo", int32(20880)
	for i := range n {
		name, ns := fmt.Sprintf("svc-%05d", i), fmt.Sprintf("ns-%02d", i%100)
		host := name + "." + ns + ".svc.cluster.local"
		ip := fmt.Sprintf("10.%d.%d.%d", 100+i>>16&255, i>>8&255, i&255)
		out = append(out,
			&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i>>8&255, i&255), Selector: map[string]string{"app": name},
					Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880}}}},
			&networkingv1.DestinationRule{TypeMeta: metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "DestinationRule"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: networkingv1alpha3.DestinationRule{Host: host, Subsets: []*networkingv1alpha3.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}}}},
			benchRouter(name, ns, "v2"),
			&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name + "-0", Namespace: ns, Labels: map[string]string{"app": name, "version": "v1"}},
				Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%100), Containers: []corev1.Container{{Name: "app", Image: "dubbo"}}}, Status: corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning}},
			&discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
				ObjectMeta:  metav1.ObjectMeta{Name: name + "-0", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &pn, Port: &pp}},
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name + "-0"}}}},
		)
	}
	return out
}

func benchRouter(name, ns, subset string) *metaprotocolv1alpha1.MetaRouter {
	host := name + "." + ns + ".svc.cluster.local"
	return &metaprotocolv1alpha1.MetaRouter{TypeMeta: metav1.TypeMeta{APIVersion: "metaprotocol.aeraki.io/v1alpha1", Kind: "MetaRouter"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: metaprotocolv1alpha1.MetaRouterSpec{Hosts: []string{host}, Routes: []metaprotocolv1alpha1.MetaRoute{{Name: "hello",
			Route: []metaprotocolv1alpha1.MetaRouteDestination{{Destination: metaprotocolv1alpha1.Destination{Host: host, Subset: subset}}}}}}}
}

// BenchmarkSnapshotAfterOneEdit: what the source spends on one MetaRouter
// edit at 10,000 services (50,100 objects) before the translator runs:
// building the whole snapshot again (with every revision hashed, as the
// Kubernetes source did while its revision memo was never created; with
// the memo), or an Edit of the last snapshot; then the change set
// (model.Diff) the translator starts from.
//
//	go test ./pkg/model -run '^$' -bench SnapshotAfterOneEdit -benchtime 10x -benchmem
func BenchmarkSnapshotAfterOneEdit(b *testing.B) {
	objs := benchMesh(10000)
	build := func(memo *RevisionMemo, edited runtime.Object) *Snapshot {
		bl := NewBuilder(Options{})
		bl.UseRevisionMemo(memo)
		for i, o := range objs {
			if i == 102 { // svc-00000's MetaRouter
				o = edited
			}
			if err := bl.Add(o, Origin{}); err != nil {
				b.Fatal(err)
			}
		}
		return bl.Build()
	}
	memo := NewRevisionMemo()
	base := build(memo, objs[102])
	subsets := []string{"v1", "v2"}
	for _, c := range []struct {
		name string
		next func(prev *Snapshot, i int) *Snapshot
	}{
		{"build,hash-every-object", func(_ *Snapshot, i int) *Snapshot { return build(nil, benchRouter("svc-00000", "ns-00", subsets[i%2])) }},
		{"build,revision-memo", func(_ *Snapshot, i int) *Snapshot {
			return build(memo, benchRouter("svc-00000", "ns-00", subsets[i%2]))
		}},
		{"edit", func(prev *Snapshot, i int) *Snapshot {
			e := prev.Edit()
			if err := e.Put(benchRouter("svc-00000", "ns-00", subsets[i%2]), Origin{}); err != nil {
				b.Fatal(err)
			}
			return e.Build()
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			prev := base
			keys := 0
			b.ResetTimer()
			for i := range b.N {
				next := c.next(prev, i)
				keys += len(Diff(prev, next))
				prev = next
			}
			b.ReportMetric(float64(keys)/float64(b.N), "changed-keys/op")
		})
	}
}

// BenchmarkSnapshotHeap: what a snapshot of BenchmarkKubeColdStart's mesh
// (10,000 services, 50,100 objects) keeps alive besides the objects
// themselves, which the Kubernetes source's cache holds anyway: the live
// heap, and the part of it that holds pointers (the collector's mark
// work), after a collection.
//
//	go test ./pkg/model -run '^$' -bench SnapshotHeap -benchtime 1x
func BenchmarkSnapshotHeap(b *testing.B) {
	objs := benchMesh(10000)
	heap := func() (live, scan uint64) {
		goruntime.GC()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64(), s[1].Value.Uint64()
	}
	for range b.N {
		live0, scan0 := heap()
		bl := NewBuilder(Options{})
		for _, o := range objs {
			if err := bl.Add(o, Origin{}); err != nil {
				b.Fatal(err)
			}
		}
		snap := bl.Build()
		bl = nil
		live1, scan1 := heap()
		b.ReportMetric(float64(live1-live0)/(1<<20), "MB-live")
		b.ReportMetric(float64(scan1-scan0)/(1<<20), "MB-scannable")
		goruntime.KeepAlive(snap)
	}
}
