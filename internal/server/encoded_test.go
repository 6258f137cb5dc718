package server

import (
	"bytes"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// What the cache is handed marshals, with go-control-plane's own
// MarshalResource, to the resource's bytes, and unpacks to the resource:
// clients get what they got before the encodings were kept.
func TestSnapshotResourcesEncodeAsTheirResources(t *testing.T) {
	cl := &clusterv3.Cluster{Name: "outbound|20880||a.ns.svc.cluster.local", ConnectTimeout: durationpb.New(5e9),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}
	ln := &listenerv3.Listener{Name: "ztunnel_outbound", StatPrefix: "out"}
	p := &plugin.Proxy{ID: "ztunnel/node-0", Clusters: []*clusterv3.Cluster{cl}, Listeners: []*listenerv3.Listener{ln}}
	memo := versionMemo{}
	s, _, err := newProxySnapshot(p, nil, memo)
	if err != nil {
		t.Fatal(err)
	}
	// A second proxy with the same message shares its encoding.
	s2, _, err := newProxySnapshot(&plugin.Proxy{ID: "ztunnel/node-1", Listeners: []*listenerv3.Listener{ln}}, nil, memo)
	if err != nil {
		t.Fatal(err)
	}
	if s.GetResourcesAndTTL(resourcev3.ListenerType)[ln.Name].Resource != s2.GetResources(resourcev3.ListenerType)[ln.Name] {
		t.Error("two proxies serving one listener message hold two encodings of it")
	}
	for typeURL, want := range map[string]proto.Message{resourcev3.ClusterType: cl, resourcev3.ListenerType: ln} {
		name := cachev3.GetResourceName(want)
		for _, got := range []proto.Message{s.GetResourcesAndTTL(typeURL)[name].Resource, s.GetResources(typeURL)[name]} {
			b, err := cachev3.MarshalResource(got)
			if err != nil {
				t.Fatal(err)
			}
			wantB, _ := deterministic.Marshal(want)
			if !bytes.Equal(b, wantB) {
				t.Errorf("%s %s: the cache would send %d bytes, not the resource's %d", typeURL, name, len(b), len(wantB))
			}
			// Appended to a buffer (a message holding it) too.
			a, err := anypb.New(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Value, wantB) {
				t.Errorf("%s %s: wrapped in an Any, %d bytes, not the resource's %d", typeURL, name, len(a.Value), len(wantB))
			}
			back := want.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, want) {
				t.Errorf("%s %s: does not unpack to the resource (%v)", typeURL, name, err)
			}
		}
	}
	// The snapshot's own view (dumps, credentials checks) is the resources.
	if got := s.resources(resourcev3.ListenerType); len(got) != 1 || got[0] != proto.Message(ln) {
		t.Errorf("resources(listeners) = %v, want the listener itself", got)
	}
	if s.GetVersion(resourcev3.ListenerType) != s2.GetVersion(resourcev3.ListenerType) {
		t.Error("one listener, two collection versions")
	}
}
