package hbone

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// TestAuthorizeProxy: the waypoint's pods' ServiceAccount reads the
// waypoint; a ztunnel ServiceAccount, configurable, reads only the node
// its pod at the client's address runs on.
func TestAuthorizeProxy(t *testing.T) {
	b := model.NewBuilder(model.Options{})
	for _, o := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "zt", Namespace: "kube-system"}, Spec: corev1.PodSpec{NodeName: "n", ServiceAccountName: "my-ztunnel"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.9.9"}},
	} {
		if err := b.Add(o, model.Origin{}); err != nil {
			t.Fatal(err)
		}
	}
	mesh := waypointMesh(t)
	p := New()
	view := mesh.View()
	// wp-0 has no serviceAccountName: the model says "default".
	if err := p.AuthorizeProxy(view, WaypointID("ns", "wp"), plugin.Peer{Identities: []string{"spiffe://cluster.local/ns/ns/sa/default"}}); err != nil {
		t.Errorf("the waypoint's own identity: %v", err)
	}
	if err := p.AuthorizeProxy(view, WaypointID("ns", "wp"), plugin.Peer{Identities: []string{"spiffe://cluster.local/ns/other/sa/default"}}); err == nil {
		t.Errorf("another namespace's identity read the waypoint")
	}
	if err := p.AuthorizeProxy(view, WaypointID("ns", "nope"), plugin.Peer{Identities: []string{"spiffe://cluster.local/ns/ns/sa/default"}}); err == nil {
		t.Errorf("a waypoint that does not exist was authorized")
	}

	zview := b.Build().View()
	peer := plugin.Peer{Identities: []string{"spiffe://cluster.local/ns/kube-system/sa/my-ztunnel"}, Address: "10.0.9.9"}
	if err := p.AuthorizeProxy(zview, ZtunnelID("n"), peer); err == nil || !strings.Contains(err.Error(), "istio-system/ztunnel") && !strings.Contains(err.Error(), "spiffe://cluster.local/ns/istio-system/sa/ztunnel") {
		t.Errorf("a ServiceAccount that is not configured as ztunnel's: err = %v", err)
	}
	if err := p.Configure(map[string]string{OptionZtunnelServiceAccounts: "istio-system/ztunnel, kube-system/my-ztunnel"}); err != nil {
		t.Fatal(err)
	}
	if err := p.AuthorizeProxy(zview, ZtunnelID("n"), peer); err != nil {
		t.Errorf("the configured ztunnel on its node: %v", err)
	}
	if err := p.AuthorizeProxy(zview, ZtunnelID("m"), peer); err == nil {
		t.Errorf("the ztunnel read another node")
	}
	peer.Address = "10.0.9.8"
	if err := p.AuthorizeProxy(zview, ZtunnelID("n"), peer); err == nil || !strings.Contains(err.Error(), "no pod with IP 10.0.9.8") {
		t.Errorf("a ztunnel identity from an address without its pod: err = %v", err)
	}
	for _, bad := range []string{"ztunnel", "a/b/c", "/x", ""} {
		if err := p.Configure(map[string]string{OptionZtunnelServiceAccounts: bad}); err == nil {
			t.Errorf("option %q accepted", bad)
		}
	}
	if err := p.Configure(map[string]string{"nope": "x"}); err == nil || !strings.Contains(err.Error(), OptionZtunnelServiceAccounts) {
		t.Errorf("unknown option: err = %v, want the known ones listed", err)
	}
}

// TestAuthorizeProxyRefusesIstiodWaypoints: a Gateway of class
// istio-waypoint is istiod's; its own identity is refused aeraki's
// config for it, and the error says who serves it.
func TestAuthorizeProxyRefusesIstiodWaypoints(t *testing.T) {
	b := model.NewBuilder(model.Options{})
	for _, o := range []runtime.Object{
		&gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "wp", Namespace: "ns"}, Spec: gatewayv1.GatewaySpec{GatewayClassName: model.IstioWaypointClass}},
	} {
		if err := b.Add(o, model.Origin{}); err != nil {
			t.Fatal(err)
		}
	}
	err := New().AuthorizeProxy(b.Build().View(), WaypointID("ns", "wp"), plugin.Peer{Identities: []string{"spiffe://cluster.local/ns/ns/sa/wp"}})
	if err == nil || !strings.Contains(err.Error(), "istiod serves") || !strings.Contains(err.Error(), model.DefaultWaypointClass) {
		t.Errorf("an istio-waypoint Gateway's identity: err = %v, want a refusal naming istiod and aeraki's class", err)
	}
}
