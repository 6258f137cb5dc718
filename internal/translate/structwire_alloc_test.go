package translate

import (
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestWireConvAllocatesOnlyItsOutput: with its buffers grown, a writer
// allocates nothing but the encoding it returns for a message of nested
// messages and wrappers (a closure per message collected was most of a
// generation's allocations in patch values; protobuf's reflection on
// lists and maps allocates on its own).
func TestWireConvAllocatesOnlyItsOutput(t *testing.T) {
	c := &clusterv3.Cluster{
		Name:        "outbound|20880||svc.ns.svc.cluster.local",
		AltStatName: "svc",
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{
			HealthyPanicThreshold:     &typev3.Percent{Value: 50},
			ConsistentHashingLbConfig: &clusterv3.Cluster_CommonLbConfig_ConsistentHashingLbConfig{UseHostnameForHashing: true, HashBalanceFactor: wrapperspb.UInt32(150)},
		},
		UpstreamConnectionOptions: &clusterv3.UpstreamConnectionOptions{TcpKeepalive: &corev3.TcpKeepalive{KeepaliveProbes: wrapperspb.UInt32(3)}},
	}
	want, err := structWire(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &wireConv{}
	if _, err := w.encode(c, nil); err != nil { // grows the buffers
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		got, err := w.encode(c, nil)
		if err != nil || string(got) != string(want) {
			t.Fatalf("encode: %v, %x, want %x", err, got, want)
		}
	})
	if allocs > 1 {
		t.Errorf("encode allocates %v times, want 1 (its output)", allocs)
	}
}

// TestPatchValueIsOneAllocationBesidesItsEncoding: a filter's patch value
// written directly is the encoding and one allocation holding the
// value and its empty stub, which the first reader fills.
func TestPatchValueIsOneAllocationBesidesItsEncoding(t *testing.T) {
	c := &clusterv3.Cluster{Name: "outbound|20880||svc.ns.svc.cluster.local", CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: 50}}}
	var wires sync.Pool
	newPatchValue(c, nil, &wires) // a writer with grown buffers in the pool
	allocs := testing.AllocsPerRun(100, func() { newPatchValue(c, nil, &wires) })
	if allocs > 2 {
		t.Errorf("newPatchValue allocates %v times, want 2 (the encoding, the value)", allocs)
	}
	p := newPatchValue(c, nil, &wires)
	if len(p.stub.GetFields()) != 0 {
		t.Fatal("the stub is filled before anyone reads it")
	}
	p.materialize()
	want, err := structOf(c)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(p.stub, want) {
		t.Errorf("materialized %v, want %v", p.stub, want)
	}
}

// TestHasSpecialJSON: the well-known types with a JSON form of their own,
// by full name, and no other name (a type nested in one of the package's,
// another package's type of the same name).
func TestHasSpecialJSON(t *testing.T) {
	for name, want := range map[protoreflect.FullName]bool{
		"google.protobuf.Any": true, "google.protobuf.Duration": true, "google.protobuf.FieldMask": true, "google.protobuf.Value": true,
		"google.protobuf.Empty": false, "google.protobuf.Foo.Any": false, "google.protobuf": false, "google.protobuf.": false,
		"envoy.Any": false, "xgoogle.protobuf.Any": false, "Any": false, "": false, "google.protobufAny": false,
	} {
		if got := hasSpecialJSON(name); got != want || (got && name.Parent() != "google.protobuf") {
			t.Errorf("hasSpecialJSON(%q) = %v, want %v", name, got, want)
		}
	}
}
