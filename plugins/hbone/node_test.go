package hbone_test

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

func TestMatchNode_Conventions(t *testing.T) {
	md := func(m map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p := hbone.New()
	for _, c := range []struct {
		name string
		node *corev3.Node
		want string
	}{
		{"ztunnel id", &corev3.Node{Id: "ztunnel/node-a"}, "ztunnel/node-a"},
		{"waypoint id", &corev3.Node{Id: "waypoint/ns/wp"}, "waypoint/ns/wp"},
		{"ztunnel metadata", &corev3.Node{Id: "router~10.0.0.1~x.y~y.svc.cluster.local", Metadata: md(map[string]any{"AERAKI_PROXY": "ztunnel", "NODE_NAME": "node-b"})}, "ztunnel/node-b"},
		{"waypoint metadata", &corev3.Node{Id: "router~10.0.0.2~wp-0.ns~ns.svc.cluster.local", Metadata: md(map[string]any{"AERAKI_PROXY": "waypoint", "NAMESPACE": "ns", "GATEWAY_NAME": "wp"})}, "waypoint/ns/wp"},
		{"waypoint istio-agent labels", &corev3.Node{Id: "x", Metadata: md(map[string]any{"AERAKI_PROXY": "waypoint", "NAMESPACE": "ns",
			"LABELS": map[string]any{"gateway.networking.k8s.io/gateway-name": "wp"}})}, "waypoint/ns/wp"},
		{"sidecar", &corev3.Node{Id: "sidecar~10.0.0.3~a.b~b.svc.cluster.local"}, ""},
		{"waypoint without gateway name", &corev3.Node{Id: "x", Metadata: md(map[string]any{"AERAKI_PROXY": "waypoint", "NAMESPACE": "ns"})}, ""},
		{"malformed id", &corev3.Node{Id: "waypoint/only-ns"}, ""},
	} {
		got, ok := p.MatchNode(c.node)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: MatchNode = %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
}

func TestParseID_RejectsOtherShapes(t *testing.T) {
	for _, id := range []string{"ztunnel/", "ztunnel/a/b", "waypoint/ns", "sidecar", ""} {
		if _, _, err := hbone.ParseID(id); err == nil {
			t.Errorf("ParseID(%q) accepted", id)
		}
	}
}
