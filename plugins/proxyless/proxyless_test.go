package proxyless_test

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/proxyless"
)

const mesh = `
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: apps}
spec:
  selector: {app: greeter}
  ports:
  - {name: grpc, port: 50051, targetPort: 8080}
  - {name: tcp-dubbo, port: 20880}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-0, namespace: apps, labels: {app: greeter}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: 10.1.0.7, phase: Running}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: apps}
spec:
  hosts: [legacy.example.com]
  resolution: STATIC
  ports:
  - {number: 9000, name: backend, protocol: GRPC}
  endpoints:
  - {address: 127.0.0.1, ports: {backend: 19000}}
`

func translateMesh(t *testing.T, manifests string) *translate.ProxyResult {
	t.Helper()
	b := model.NewBuilder(model.Options{})
	if diags := file.LoadBytes("mesh.yaml", []byte(manifests), b, file.Options{}); len(diags) > 0 {
		t.Fatalf("loading test manifests: %v", diags)
	}
	reg, err := plugin.NewRegistry(proxyless.New())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	out := tr.Translate(b.Build())
	if len(out.Proxies) != 1 {
		t.Fatalf("got %d proxies, want the one proxyless config", len(out.Proxies))
	}
	p := out.Proxies[0]
	for _, d := range p.Diagnostics {
		t.Errorf("diagnostic: %s", d)
	}
	return p
}

func TestBuildsConfigForGRPCPorts(t *testing.T) {
	p := translateMesh(t, mesh)
	if p.ID != proxyless.ProxyID || p.Kind != plugin.ProxyKindProxyless {
		t.Fatalf("proxy %q kind %q, want %q kind proxyless", p.ID, p.Kind, proxyless.ProxyID)
	}
	var listeners []string
	for _, l := range p.Listeners {
		listeners = append(listeners, l.GetName())
		hcm := &hcmv3.HttpConnectionManager{}
		if err := l.GetApiListener().GetApiListener().UnmarshalTo(hcm); err != nil {
			t.Fatalf("listener %s: not an API listener with an HttpConnectionManager: %v", l.GetName(), err)
		}
		if hcm.GetRds().GetRouteConfigName() != l.GetName() || hcm.GetRds().GetConfigSource().GetAds() == nil {
			t.Errorf("listener %s: want RDS over ADS for route %s, got %v", l.GetName(), l.GetName(), hcm.GetRds())
		}
		if n := len(hcm.GetHttpFilters()); n == 0 || hcm.GetHttpFilters()[n-1].GetName() != "envoy.filters.http.router" {
			t.Errorf("listener %s: the router filter must come last, got %v", l.GetName(), hcm.GetHttpFilters())
		}
	}
	want := []string{"greeter.apps.svc.cluster.local:50051", "legacy.example.com:9000"}
	if len(listeners) != len(want) || listeners[0] != want[0] || listeners[1] != want[1] {
		t.Fatalf("listeners %v, want %v (the Dubbo port is not a gRPC port)", listeners, want)
	}
	domains := p.Routes[0].GetVirtualHosts()[0].GetDomains()
	for _, d := range []string{"greeter.apps.svc.cluster.local:50051", "greeter:50051", "greeter.apps:50051", "greeter.apps.svc"} {
		if !contains(domains, d) {
			t.Errorf("route %s: domains %v lack %q", p.Routes[0].GetName(), domains, d)
		}
	}
	if got := p.Routes[0].GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster(); got != "outbound|50051||greeter.apps.svc.cluster.local" {
		t.Errorf("route cluster %q", got)
	}
	if p.Clusters[0].GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
		t.Errorf("cluster %s does not take its endpoints over ADS", p.Clusters[0].GetName())
	}
	cla := p.Endpoints[0]
	sa := cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "10.1.0.7" || sa.GetPortValue() != 8080 {
		t.Errorf("endpoint %s:%d, want the pod at 10.1.0.7:8080", sa.GetAddress(), sa.GetPortValue())
	}
	if cla.GetEndpoints()[0].GetLoadBalancingWeight().GetValue() == 0 {
		t.Error("locality without weight: grpc-go ignores it")
	}
	se := p.Endpoints[1].GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if se.GetAddress() != "127.0.0.1" || se.GetPortValue() != 19000 {
		t.Errorf("ServiceEntry endpoint %s:%d, want 127.0.0.1:19000", se.GetAddress(), se.GetPortValue())
	}
}

func TestEmptyMeshStillHasAConfig(t *testing.T) {
	p := translateMesh(t, "")
	if len(p.Listeners)+len(p.Clusters) != 0 {
		t.Fatalf("empty mesh built %d listeners and %d clusters", len(p.Listeners), len(p.Clusters))
	}
}

func TestMatchNode(t *testing.T) {
	meta := func(v *structpb.Value) *structpb.Struct {
		return &structpb.Struct{Fields: map[string]*structpb.Value{proxyless.MetadataKey: v}}
	}
	cases := []struct {
		name string
		node *corev3.Node
		want bool
	}{
		{"id prefix", &corev3.Node{Id: "proxyless~client-1"}, true},
		{"metadata string", &corev3.Node{Id: "client", Metadata: meta(structpb.NewStringValue("true"))}, true},
		{"metadata bool", &corev3.Node{Id: "client", Metadata: meta(structpb.NewBoolValue(true))}, true},
		{"metadata false", &corev3.Node{Id: "client", Metadata: meta(structpb.NewStringValue("false"))}, false},
		{"sidecar", &corev3.Node{Id: "sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local"}, false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		id, ok := proxyless.New().MatchNode(c.node)
		if ok != c.want || (ok && id != proxyless.ProxyID) {
			t.Errorf("%s: MatchNode = %q, %v; want match %v", c.name, id, ok, c.want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
