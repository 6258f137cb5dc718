package model_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// claimSet stands for a registry claiming these names and every meta-protocol.
type claimSet map[model.Protocol]bool

func (c claimSet) ClaimsProtocol(p model.ProtocolInfo) bool { return p.Meta || c[p.Protocol] }

// TestDetectProtocol: names are parsed lexically and the claims decide;
// the model knows no plugin's protocol.
func TestDetectProtocol(t *testing.T) {
	claims := claimSet{"dubbo": true, "thrift": true, "redis": true, "awesomerpc": true}
	for _, c := range []struct {
		name, app string
		want      model.Protocol
		meta      bool
		source    string
	}{
		{"tcp-dubbo", "", "dubbo", false, "name"},
		{"dubbo", "", "dubbo", false, "name"},
		{"dubbo-v2", "", "dubbo", false, "name"},
		{"tcp-thrift", "", "thrift", false, "name"},
		{"tcp-redis", "", "redis", false, "name"},
		{"tcp-metaprotocol-dubbo", "", "dubbo", true, "name"},
		{"tcp-metaprotocol-thrift-hello-server", "", "thrift", true, "name"},
		{"tcp-metaprotocol-qza-server", "", "qza", true, "name"},
		{"http-web", "", "http", false, "name"},
		{"grpc", "", "http", false, "name"},
		{"tcp-gossip", "", "tcp", false, "name"},
		{"status-port", "", "", false, ""},
		{"tcp-dubbo", "redis", "redis", false, "appProtocol"},
		{"web", "metaprotocol-trpc", "trpc", true, "appProtocol"},
		{"web", "kubernetes.io/h2c", "http", false, "appProtocol"},
		{"tcp-dubbo", "unknown-thing", "dubbo", false, "name"},
		{"tcp-awesomerpc", "", "awesomerpc", false, "name"},
		{"awesomerpc-v1", "", "awesomerpc", false, "name"},
		{"tcp", "awesomerpc", "awesomerpc", false, "appProtocol"},
		{"tcp-metaprotocol-awesomerpc", "", "awesomerpc", true, "name"},
		{"tcp-echo", "", "tcp", false, "name"},
		{"echo", "", "", false, ""},
		{"tcp-dubbo", "example.com/custom", "dubbo", false, "name"},
	} {
		got := model.DetectProtocolWith(claims, c.name, c.app)
		if got.Protocol != c.want || got.Meta != c.meta || got.Source != c.source {
			t.Errorf("DetectProtocol(%q, %q) = %+v, want %q meta=%v from %q", c.name, c.app, got, c.want, c.meta, c.source)
		}
	}
}

// Without claims the first name spelled wins.
func TestDetectProtocolWithoutClaims(t *testing.T) {
	if got := model.DetectProtocol("tcp-echo", "awesomerpc"); got.Protocol != "awesomerpc" || got.Source != "appProtocol" {
		t.Errorf("got %+v", got)
	}
	if got := model.DetectProtocol("tcp-echo", ""); got.Protocol != "echo" {
		t.Errorf("got %+v", got)
	}
}

func TestResolveHost(t *testing.T) {
	for in, want := range map[string]string{
		"reviews":                         "reviews.bookinfo.svc.cluster.local",
		"reviews.other.svc.cluster.local": "reviews.other.svc.cluster.local",
		"Org.Apache.Demo":                 "org.apache.demo",
		"*":                               "*",
	} {
		if got := model.ResolveHost(in, "bookinfo", "cluster.local"); got != want {
			t.Errorf("ResolveHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.ServiceSpec{
			ClusterIP: "10.0.0.1",
			Selector:  selector,
			Ports:     []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880, TargetPort: intstr.FromString("dubbo")}},
		},
	}
}

func pod(name, ip string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "dubbo", ContainerPort: 20881}}}}},
		Status:     corev1.PodStatus{PodIP: ip},
	}
}

func TestEndpointsFromSelectorAndSlices(t *testing.T) {
	b := model.NewBuilder(model.Options{})
	must(t, b.Add(service("sel", map[string]string{"app": "p"}), model.Origin{}))
	must(t, b.Add(pod("p1", "10.1.0.1", map[string]string{"app": "p", "version": "v1"}), model.Origin{}))
	must(t, b.Add(pod("p2", "10.1.0.2", map[string]string{"app": "other"}), model.Origin{}))
	must(t, b.Add(service("sliced", nil), model.Origin{}))
	port, name := int32(20882), "tcp-dubbo"
	must(t, b.Add(&discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "sliced-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "sliced"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.2"}}},
	}, model.Origin{}))
	v := b.Build().View()

	eps := v.Endpoints("sel.ns.svc.cluster.local", 20880)
	if len(eps) != 1 || eps[0].Address != "10.1.0.1" || eps[0].Port != 20881 || eps[0].Labels["version"] != "v1" {
		t.Fatalf("selector endpoints = %+v, want p1 on its named port 20881", eps)
	}
	eps = v.Endpoints("sliced.ns.svc.cluster.local", 20880)
	if len(eps) != 1 || eps[0].Port != 20882 || eps[0].Workload == nil || eps[0].Workload.Name != "p2" {
		t.Fatalf("slice endpoints = %+v, want p2 on 20882 with its workload", eps)
	}
}

func TestTrackedViewRecordsWhatItRead(t *testing.T) {
	build := func(ip string) *model.Snapshot {
		b := model.NewBuilder(model.Options{})
		s := service("a", nil)
		s.Spec.ClusterIP = ip
		must(t, b.Add(s, model.Origin{}))
		must(t, b.Add(service("b", nil), model.Origin{}))
		return b.Build()
	}
	s1 := build("10.0.0.1")
	deps := model.Deps{}
	v := s1.TrackedView(deps)
	v.Service("b.ns.svc.cluster.local")
	v.MetaRouters("b.ns.svc.cluster.local")
	if deps.Changed(build("10.0.0.9")) {
		t.Error("a change to service a must not affect a build that read only b")
	}
	deps2 := model.Deps{}
	s1.TrackedView(deps2).Service("a.ns.svc.cluster.local")
	if !deps2.Changed(build("10.0.0.9")) {
		t.Error("a change to service a must affect a build that read a")
	}
	if got := model.Diff(s1, build("10.0.0.9")); len(got) == 0 {
		t.Error("Diff found no change")
	}
	if got := model.Diff(s1, build("10.0.0.1")); len(got) != 0 {
		t.Errorf("Diff of equal snapshots = %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
