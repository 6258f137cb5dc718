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

// TestTrimKeepsWhatTheModelReads: a snapshot of Pods and EndpointSlices
// with every field set and one of the same objects trimmed have the same
// services, endpoints and workloads (the objects' revisions differ: they
// hash what was kept). A field the model starts reading that Trim clears
// fails it.
func TestTrimKeepsWhatTheModelReads(t *testing.T) {
	ks := NewKindIndex(nil)
	f := &filler{}
	const ns = "demo"
	svc := func(name string, tp intstr.IntOrString) *corev1.Service {
		return &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}, ClusterIP: "10.96.0.1",
				Ports: []corev1.ServicePort{{Name: "tcp", Port: 80, TargetPort: tp}}}}
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
	for _, o := range []runtime.Object{svc("sliced", intstr.FromInt(8080)), svc("selected", intstr.FromString("p"))} {
		full, trim = append(full, o), append(trim, o)
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
	wa, wb := withoutRevisions(a.View().Workloads()), withoutRevisions(b.View().Workloads())
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

// withoutRevisions copies workloads without their revisions, which hash
// what Trim kept.
func withoutRevisions(ws []*Workload) []Workload {
	out := make([]Workload, len(ws))
	for i, w := range ws {
		out[i] = *w
		out[i].Revision = ""
	}
	return out
}

func endpointsWithoutRevisions(eps []Endpoint) []Endpoint {
	out := append([]Endpoint(nil), eps...)
	for i := range out {
		if w := out[i].Workload; w != nil {
			c := *w
			c.Revision = ""
			out[i].Workload = &c
		}
	}
	return out
}

func dump(v any) string { return fmt.Sprintf("%+v", v) }

// diff is a test failure's description of two objects that differ.
func diff(want, got any) string { return fmt.Sprintf("\nwant: %+v\ngot:  %+v", want, got) }

// TestTrimDropsTheRest: what Trim keeps of a Pod and an EndpointSlice
// with every field set is exactly what the model reads (and the metadata
// the sources read); trimming again changes nothing.
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

	// Kinds without a Trim are left alone.
	svc := &corev1.Service{}
	f.fill(reflect.ValueOf(svc).Elem(), 0)
	svc.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	if got := trimmed(ks, svc); !reflect.DeepEqual(svc, got) {
		t.Errorf("a Service was trimmed:%s", diff(svc, got))
	}
}
