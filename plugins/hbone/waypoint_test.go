package hbone

import (
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// waypointMesh is an ambient namespace with waypoint "wp" (one pod) and a
// Service "svc" bound to it with a tcp-dubbo port and one pod.
func waypointMesh(t *testing.T) *model.Snapshot {
	t.Helper()
	b := model.NewBuilder(model.Options{})
	pod := func(name, ip string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels}, Spec: corev1.PodSpec{NodeName: "n"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip}}
	}
	for _, o := range []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{model.LabelDataplaneMode: "ambient", model.LabelUseWaypoint: "wp"}}},
		&gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "wp", Namespace: "ns"}, Spec: gatewayv1.GatewaySpec{GatewayClassName: model.DefaultWaypointClass}},
		pod("wp-0", "10.0.0.100", map[string]string{model.LabelGatewayName: "wp"}),
		pod("svc-0", "10.0.0.1", map[string]string{"app": "svc"}),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1",
			Selector: map[string]string{"app": "svc"}, Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880}}}},
	} {
		if err := b.Add(o, model.Origin{}); err != nil {
			t.Fatal(err)
		}
	}
	return b.Build()
}

func buildWith(t *testing.T, l7 func(plugin.L7Request) (plugin.L7Chain, bool)) *plugin.Proxy {
	t.Helper()
	snap := waypointMesh(t)
	ctx := plugin.NewProxyContext(Name, snap.View(), l7)
	p, err := New().BuildProxy(ctx, WaypointID("ns", "wp"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mainInternalChain(t *testing.T, p *plugin.Proxy, name string) *listenerv3.FilterChain {
	t.Helper()
	for _, l := range p.Listeners {
		if l.GetName() != ListenerMainInternal {
			continue
		}
		for _, c := range l.GetFilterChains() {
			if c.GetName() == name {
				return c
			}
		}
	}
	t.Fatalf("no main_internal chain %q", name)
	return nil
}

const dubboChain = "inbound-vip|20880|dubbo|svc.ns.svc.cluster.local"

func TestWaypoint_L7ChainFromProtocolPluginAndItsClusters(t *testing.T) {
	routed := tcpProxy("l7", "inbound-vip|20880|v2|svc.ns.svc.cluster.local")
	var asked model.ObjectRef
	p := buildWith(t, func(req plugin.L7Request) (plugin.L7Chain, bool) {
		if req.Role != plugin.RoleWaypoint {
			t.Errorf("asked for role %s", req.Role)
		}
		if req.Profile == nil || req.Profile.Name != profile.Envoy {
			t.Errorf("asked for a chain for build %v, want the waypoint's (envoy)", req.Profile)
		}
		asked = req.Waypoint
		return plugin.L7Chain{Plugin: "dubbo", Filters: []*listenerv3.Filter{routed}}, true
	})
	if asked.Name != "wp" || asked.Namespace != "ns" {
		t.Fatalf("L7 asked for waypoint %v", asked)
	}
	if c := mainInternalChain(t, p, dubboChain); len(c.GetFilters()) != 1 || c.GetFilters()[0] != routed {
		t.Fatalf("chain filters %v, want the plugin's", c.GetFilters())
	}
	found := false
	for _, c := range p.Clusters {
		found = found || c.GetName() == "inbound-vip|20880|v2|svc.ns.svc.cluster.local"
	}
	if !found {
		t.Fatal("the cluster the L7 route names was not built")
	}
}

func TestWaypoint_FailedClosedPluginGetsDenyChain(t *testing.T) {
	p := buildWith(t, func(plugin.L7Request) (plugin.L7Chain, bool) {
		return plugin.L7Chain{Plugin: "dubbo", FailedClosed: true}, true
	})
	c := mainInternalChain(t, p, dubboChain)
	if len(c.GetFilters()) != 2 || c.GetFilters()[0].GetName() != filterRBAC {
		t.Fatalf("want RBAC deny then tcp_proxy to the black hole, got %v", c.GetFilters())
	}
	for _, l := range p.Listeners {
		if err := xds.Validate(l); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWaypoint_PortNoPluginOwnsIsTCP(t *testing.T) {
	p := buildWith(t, func(plugin.L7Request) (plugin.L7Chain, bool) {
		return plugin.L7Chain{}, false
	})
	c := mainInternalChain(t, p, dubboChain)
	if len(c.GetFilters()) != 1 || c.GetFilters()[0].GetName() != filterTCPProxy {
		t.Fatalf("want tcp_proxy, got %v", c.GetFilters())
	}
	if got := xds.ReferencedClusters(c.GetFilters()[0]); len(got) != 1 || got[0] != "inbound-vip|20880||svc.ns.svc.cluster.local" {
		t.Fatalf("tcp_proxy cluster %v", got)
	}
}

func TestProxyIDs_ZtunnelPerNodeAndWaypoints(t *testing.T) {
	ids := New().ProxyIDs(waypointMesh(t).View())
	if len(ids) != 2 || ids[0] != "ztunnel/n" || ids[1] != "waypoint/ns/wp" {
		t.Fatalf("ids %v", ids)
	}
	empty := model.NewBuilder(model.Options{}).Build()
	if ids := New().ProxyIDs(empty.View()); len(ids) != 0 {
		t.Fatalf("no ambient mesh, no proxies: %v", ids)
	}
}

// TestWaypoint_ProtocolPluginPatchesItsClusters: a plugin's cluster
// settings (Redis credentials, cluster mode) reach every inbound-vip
// cluster of its port, subsets included, with the subset named.
func TestWaypoint_ProtocolPluginPatchesItsClusters(t *testing.T) {
	routed := tcpProxy("l7", "inbound-vip|20880|v2|svc.ns.svc.cluster.local")
	patched := map[string]string{}
	p := buildWith(t, func(plugin.L7Request) (plugin.L7Chain, bool) {
		return plugin.L7Chain{Plugin: "redis", Filters: []*listenerv3.Filter{routed}, PatchCluster: func(c *clusterv3.Cluster, subset string) {
			patched[c.GetName()] = subset
			c.ConnectTimeout = durationpb.New(7 * time.Second)
		}}, true
	})
	want := map[string]string{"inbound-vip|20880|v2|svc.ns.svc.cluster.local": "v2"}
	for name, subset := range want {
		got, ok := patched[name]
		if !ok || got != subset {
			t.Errorf("cluster %s: patched=%v with subset %q, want subset %q", name, ok, got, subset)
		}
	}
	for _, c := range p.Clusters {
		if _, ok := want[c.GetName()]; ok && c.GetConnectTimeout().AsDuration() != 7*time.Second {
			t.Errorf("cluster %s does not carry the plugin's settings", c.GetName())
		}
	}
}

// An istio-waypoint Gateway is istiod's: it is a waypoint for bindings
// (ztunnels send the bound service's traffic to it), but aeraki builds
// no proxy for it, and asking for one says who serves it.
func TestIstioWaypointIsIstiodsNotOurs(t *testing.T) {
	b := model.NewBuilder(model.Options{})
	for _, o := range []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{model.LabelDataplaneMode: "ambient", model.LabelUseWaypoint: "wp"}}},
		&gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "wp", Namespace: "ns"}, Spec: gatewayv1.GatewaySpec{GatewayClassName: model.IstioWaypointClass}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "svc-0", Namespace: "ns", Labels: map[string]string{"app": "svc"}}, Spec: corev1.PodSpec{NodeName: "n"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1",
			Selector: map[string]string{"app": "svc"}, Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880}}}},
	} {
		if err := b.Add(o, model.Origin{}); err != nil {
			t.Fatal(err)
		}
	}
	view := b.Build().View()
	wp := view.Waypoint("ns", "wp")
	if wp == nil || wp.AerakiServed() || wp.ServedBy != model.ServedByIstiod || wp.Class != model.IstioWaypointClass {
		t.Fatalf("waypoint = %+v, want one served by istiod", wp)
	}
	if got := view.ServiceWaypoint(view.Service("svc.ns.svc.cluster.local")); got.Waypoint != wp {
		t.Errorf("binding = %+v, want the istio-waypoint Gateway", got)
	}
	ids := New().ProxyIDs(view)
	for _, id := range ids {
		if id == WaypointID("ns", "wp") {
			t.Errorf("ProxyIDs = %v: aeraki must not build istiod's waypoint", ids)
		}
	}
	_, err := New().BuildProxy(plugin.NewProxyContext(Name, view, nil), WaypointID("ns", "wp"))
	if err == nil || !strings.Contains(err.Error(), "istiod serves it") {
		t.Errorf("BuildProxy error = %v, want one saying istiod serves it", err)
	}
}
