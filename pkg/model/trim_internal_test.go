package model

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// filler sets every exported field of a value, recursively: strings to
// distinct words, numbers to distinct small positive values (valid ports),
// booleans to true, pointers, slices (two elements) and maps (two
// entries) to filled ones. A trimmed object built from one shows whether
// anything the model reads was cleared.
type filler struct{ n int }

func (f *filler) fill(v reflect.Value, depth int) {
	if depth > 12 {
		return
	}
	f.n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("f%d", f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.n%1000 + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.n%100 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.n))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k, depth+1)
			f.fill(e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		switch v.Type() { // types whose fields hold an encoding of their own
		case reflect.TypeFor[metav1.Time]():
			v.Set(reflect.ValueOf(metav1.Unix(int64(f.n), 0)))
			return
		case reflect.TypeFor[intstr.IntOrString]():
			v.Set(reflect.ValueOf(intstr.FromInt32(int32(f.n%1000 + 1))))
			return
		case reflect.TypeFor[resource.Quantity]():
			v.Set(reflect.ValueOf(*resource.NewQuantity(int64(f.n), resource.DecimalSI)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i), depth+1)
			}
		}
	}
}

// filledPod is a Pod with every field set, serving target port "p".
func filledPod(f *filler, ns, name string) *corev1.Pod {
	p := &corev1.Pod{}
	f.fill(reflect.ValueOf(p).Elem(), 0)
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	p.Namespace, p.Name = ns, name
	p.Labels["app"] = "a"
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = fmt.Sprintf("10.0.0.%d", f.n%200+1)
	p.Spec.Containers[1].Ports[0].Name = "p"
	p.Spec.Containers[1].Ports = p.Spec.Containers[1].Ports[:1]
	p.Spec.Containers[0].Ports = nil // a container without ports
	return p
}

// filledService is a Service with every field set, selecting the pods
// labeled app=a, with one TCP port (80, to target port tp) and one of
// another protocol.
func filledService(f *filler, ns, name string, tp intstr.IntOrString) *corev1.Service {
	s := &corev1.Service{}
	f.fill(reflect.ValueOf(s).Elem(), 0)
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	s.Namespace, s.Name = ns, name
	s.Spec.Selector = map[string]string{"app": "a"}
	s.Spec.ClusterIPs = []string{"10.96.0.1", "fd00::1"}
	s.Spec.Ports[0].Name, s.Spec.Ports[0].Protocol, s.Spec.Ports[0].Port, s.Spec.Ports[0].TargetPort = "tcp", corev1.ProtocolTCP, 80, tp
	return s
}

// filledSlice is an EndpointSlice with every field set, of Service svc,
// whose endpoints name pod.
func filledSlice(f *filler, ns, svc string, pod *corev1.Pod) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{}
	f.fill(reflect.ValueOf(s).Elem(), 0)
	s.TypeMeta = metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
	s.Namespace, s.Name = ns, svc+"-x"
	s.Labels[discoveryv1.LabelServiceName] = svc
	name := "tcp"
	s.Ports[0].Name = &name
	s.Endpoints[0].Addresses = []string{pod.Status.PodIP, "10.1.0.1"}
	s.Endpoints[0].TargetRef.Kind, s.Endpoints[0].TargetRef.Namespace, s.Endpoints[0].TargetRef.Name = "Pod", ns, pod.Name
	s.Endpoints[1].Addresses = []string{"10.1.0.2"}
	ready := false
	s.Endpoints[1].Conditions.Ready = &ready
	return s
}

func trimmed[T runtime.Object](ks *KindIndex, o T) T {
	c := o.DeepCopyObject().(T)
	ks.Trim(c)
	return c
}

// TestTrimKeepsWhatTheModelReads: a snapshot of Pods, EndpointSlices and
// Services with every field set and one of the same objects trimmed have the same
// services, endpoints and workloads (the objects' revisions differ: they
// hash what was kept). A field the model starts reading that Trim clears
// fails it.
func TestTrimKeepsWhatTheModelReads(t *testing.T) {
	ks := NewKindIndex(nil)
	f := &filler{}
	const ns = "demo"
	svc := func(name string, tp intstr.IntOrString) *corev1.Service {
		return filledService(f, ns, name, tp)
	}
	var full, trim []runtime.Object
	for i := range 3 {
		pod := filledPod(f, ns, fmt.Sprintf("pod-%d", i))
		full = append(full, pod)
		trim = append(trim, trimmed(ks, pod))
	}
	slice := filledSlice(f, ns, "sliced", full[0].(*corev1.Pod))
	full = append(full, slice)
	trim = append(trim, trimmed(ks, slice))
	for _, o := range []*corev1.Service{svc("sliced", intstr.FromInt(8080)), svc("selected", intstr.FromString("p"))} {
		full, trim = append(full, o), append(trim, trimmed(ks, o))
	}
	build := func(objs []runtime.Object) *Snapshot {
		b := NewBuilder(Options{})
		for _, o := range objs {
			if err := b.Add(o, Origin{}); err != nil {
				t.Fatal(err)
			}
		}
		return b.Build()
	}
	a, b := build(full), build(trim)
	sa, sb := withoutRevisions(a.View().Services(), serviceRevision), withoutRevisions(b.View().Services(), serviceRevision)
	if !reflect.DeepEqual(sa, sb) {
		t.Errorf("services differ once trimmed:\nfull:    %s\ntrimmed: %s", dump(sa), dump(sb))
	}
	if len(sa) != 2 || len(sa[0].Addresses) == 0 || len(sa[0].Ports) == 0 {
		t.Fatalf("want 2 services with addresses and ports, got %s", dump(sa))
	}
	wa, wb := withoutRevisions(a.View().Workloads(), workloadRevision), withoutRevisions(b.View().Workloads(), workloadRevision)
	if !reflect.DeepEqual(wa, wb) {
		t.Errorf("workloads differ once trimmed:\nfull:    %s\ntrimmed: %s", dump(wa), dump(wb))
	}
	if len(wa) != 3 {
		t.Fatalf("want 3 workloads, got %d", len(wa))
	}
	for _, host := range []string{"sliced.demo.svc.cluster.local", "selected.demo.svc.cluster.local"} {
		ea, eb := endpointsWithoutRevisions(a.View().Endpoints(host, 80)), endpointsWithoutRevisions(b.View().Endpoints(host, 80))
		if len(ea) == 0 {
			t.Errorf("%s: no endpoints", host)
		}
		if !reflect.DeepEqual(ea, eb) {
			t.Errorf("%s: endpoints differ once trimmed:\nfull:    %s\ntrimmed: %s", host, dump(ea), dump(eb))
		}
	}
	for i := range full {
		if ba, bb := checkBounds(ObjectRef{}, full[i]), checkBounds(ObjectRef{}, trim[i]); !reflect.DeepEqual(ba, bb) {
			t.Errorf("%T: bounds findings differ once trimmed: %v, %v", full[i], ba, bb)
		}
	}
}

// withoutRevisions copies services or workloads without their revisions,
// which hash what Trim kept.
func withoutRevisions[T any](in []*T, revision func(*T) *Revision) []T {
	out := make([]T, len(in))
	for i, x := range in {
		out[i] = *x
		*revision(&out[i]) = ""
	}
	return out
}

func serviceRevision(s *Service) *Revision   { return &s.Revision }
func workloadRevision(w *Workload) *Revision { return &w.Revision }

func endpointsWithoutRevisions(eps []Endpoint) []Endpoint {
	out := append([]Endpoint(nil), eps...)
	for i := range out {
		if w := out[i].Workload; w != nil {
			out[i].Workload = &withoutRevisions([]*Workload{w}, workloadRevision)[0]
		}
	}
	return out
}

func dump(v any) string { return fmt.Sprintf("%+v", v) }

// diff is a test failure's description of two objects that differ.
func diff(want, got any) string { return fmt.Sprintf("\nwant: %+v\ngot:  %+v", want, got) }

// TestTrimDropsTheRest: what Trim keeps of a Pod, an EndpointSlice and a
// Service with every field set is exactly what the model reads (and the
// metadata the sources read, and a Service's cluster IPs, which the
// waypoint controller reads); trimming again changes nothing.
func TestTrimDropsTheRest(t *testing.T) {
	ks := NewKindIndex(nil)
	f := &filler{}
	pod := filledPod(f, "demo", "pod")
	got := trimmed(ks, pod)
	meta := func(m metav1.ObjectMeta, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, Labels: labels, ResourceVersion: m.ResourceVersion,
			Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp}
	}
	want := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: meta(pod.ObjectMeta, pod.Labels),
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: pod.Spec.Containers[1].Ports}},
			NodeName: pod.Spec.NodeName, ServiceAccountName: pod.Spec.ServiceAccountName},
		Status: corev1.PodStatus{Phase: pod.Status.Phase, PodIP: pod.Status.PodIP, PodIPs: pod.Status.PodIPs}}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("trimmed Pod:%s", diff(want, got))
	}
	if again := trimmed(ks, got); !reflect.DeepEqual(got, again) {
		t.Errorf("trimming a trimmed Pod changed it:%s", diff(got, again))
	}

	slice := filledSlice(f, "demo", "svc", pod)
	gotSlice := trimmed(ks, slice)
	wantSlice := &discoveryv1.EndpointSlice{TypeMeta: slice.TypeMeta,
		ObjectMeta:  meta(slice.ObjectMeta, map[string]string{discoveryv1.LabelServiceName: "svc"}),
		AddressType: slice.AddressType}
	for _, p := range slice.Ports {
		wantSlice.Ports = append(wantSlice.Ports, discoveryv1.EndpointPort{Name: p.Name, Port: p.Port})
	}
	for _, e := range slice.Endpoints {
		wantSlice.Endpoints = append(wantSlice.Endpoints, discoveryv1.Endpoint{Addresses: e.Addresses,
			Conditions: discoveryv1.EndpointConditions{Ready: e.Conditions.Ready},
			TargetRef:  &corev1.ObjectReference{Kind: e.TargetRef.Kind, Namespace: e.TargetRef.Namespace, Name: e.TargetRef.Name}})
	}
	if !reflect.DeepEqual(wantSlice, gotSlice) {
		t.Errorf("trimmed EndpointSlice:%s", diff(wantSlice, gotSlice))
	}
	if again := trimmed(ks, gotSlice); !reflect.DeepEqual(gotSlice, again) {
		t.Errorf("trimming a trimmed EndpointSlice changed it:%s", diff(gotSlice, again))
	}

	svc := filledService(f, "demo", "svc", intstr.FromString("p"))
	gotSvc := trimmed(ks, svc)
	wantSvc := &corev1.Service{TypeMeta: svc.TypeMeta, ObjectMeta: meta(svc.ObjectMeta, svc.Labels),
		Spec: corev1.ServiceSpec{Selector: svc.Spec.Selector, ClusterIP: svc.Spec.ClusterIP, ClusterIPs: svc.Spec.ClusterIPs}}
	for _, p := range svc.Spec.Ports {
		wantSvc.Spec.Ports = append(wantSvc.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port, TargetPort: p.TargetPort})
	}
	if !reflect.DeepEqual(wantSvc, gotSvc) {
		t.Errorf("trimmed Service:%s", diff(wantSvc, gotSvc))
	}
	if again := trimmed(ks, gotSvc); !reflect.DeepEqual(gotSvc, again) {
		t.Errorf("trimming a trimmed Service changed it:%s", diff(gotSvc, again))
	}

	// Kinds without a Trim are left alone.
	nsObj := &corev1.Namespace{}
	f.fill(reflect.ValueOf(nsObj).Elem(), 0)
	nsObj.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}
	if got := trimmed(ks, nsObj); !reflect.DeepEqual(nsObj, got) {
		t.Errorf("a Namespace was trimmed:%s", diff(nsObj, got))
	}
}
