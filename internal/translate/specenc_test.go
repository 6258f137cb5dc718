package translate

import (
	"bytes"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestFramedWritesTheHeadBeforeTheSpec: Framed is head + EncodedSpec; the
// first head goes into the room before the spec (the same buffer), the
// same head again gets the same bytes, and another head or one longer
// than the room gets a copy, leaving the first untouched.
func TestFramedWritesTheHeadBeforeTheSpec(t *testing.T) {
	spec := &networkingv1alpha3.EnvoyFilter{Priority: 3, ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{{ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER}}}
	enc, ok := encodeSpec(spec, nil, 8, nil)
	if !ok {
		t.Fatal("not encoded")
	}
	ef := &EnvoyFilter{spec: spec, enc: enc}
	b := ef.EncodedSpec()
	if cap(b) != len(b) {
		t.Errorf("EncodedSpec can be appended to in place: len %d cap %d", len(b), cap(b))
	}
	first := ef.Framed([]byte("head"))
	if want := append([]byte("head"), b...); !bytes.Equal(first, want) {
		t.Fatalf("Framed = %x, want %x", first, want)
	}
	if &first[4] != &b[0] {
		t.Error("the head was not written before the spec's own bytes")
	}
	if again := ef.Framed([]byte("head")); &again[0] != &first[0] {
		t.Error("the same head again made a copy")
	}
	other := ef.Framed([]byte("tail"))
	if !bytes.Equal(other, append([]byte("tail"), b...)) || &other[4] == &b[0] {
		t.Errorf("another head: %x, shared %v", other, &other[4] == &b[0])
	}
	if !bytes.Equal(first[:4], []byte("head")) {
		t.Errorf("another head overwrote the first: %q", first[:4])
	}
	long := strings.Repeat("h", 9)
	ef2 := &EnvoyFilter{spec: spec}
	ef2.enc, _ = encodeSpec(spec, nil, 8, nil)
	if got := ef2.Framed([]byte(long)); !bytes.Equal(got, append([]byte(long), b...)) {
		t.Errorf("a head longer than the room: %x", got)
	}
	if ef2.Framed([]byte("h")); ef2.enc.head != 1 {
		t.Error("a head too long for the room took it")
	}
	if (&EnvoyFilter{spec: spec}).Framed([]byte("x")) != nil {
		t.Error("Framed without an encoding")
	}
}

// TestEnvelopeRoomHoldsTheMCPHead: the room left before a translated
// spec is at least the 79 bytes of framing and type URL of istiod's MCP
// resource plus its name, revision and map entries.
func TestEnvelopeRoomHoldsTheMCPHead(t *testing.T) {
	ef := &EnvoyFilter{Namespace: "ns", Name: "n", Labels: map[string]string{"k": "v"}}
	ef.SetAnnotation("a", strings.Repeat("x", 300))
	want := 79 + len("ns/n") + revisionLen + (9 + 2) + (9 + 1 + 300)
	if got := envelopeRoom(ef); got < want {
		t.Errorf("envelopeRoom = %d, want at least %d", got, want)
	}
}

// TestAssemblerReusesOnlyDroppedSpecs: an assembler writes each spec into
// the messages of the last one it dropped, but an EnvoyFilter whose spec
// did not encode (a listener name that is not UTF-8) keeps its spec, and
// assembling the next EnvoyFilter leaves it as it was.
func TestAssemblerReusesOnlyDroppedSpecs(t *testing.T) {
	unitOf := func(host, addr string) *Unit {
		svc := &model.Service{Hostname: host, Addresses: []string{addr}}
		return &Unit{Key: "outbound|" + host + "|80", Service: svc, Port: &model.Port{Number: 80}}
	}
	as := newAssembler()
	outbound := withClusterPatches(as.arena.outboundPatches)
	bad := unitOf("bad.ns", "\xff")
	efBad := as.assemble("root", "bad", bad.Service, nil, []*Unit{bad}, outbound)
	if efBad.EncodedSpec() != nil || !HoldsSpec(efBad) {
		t.Fatal("a spec that does not encode was dropped")
	}
	want := proto.Clone(efBad.Spec())
	var good []*EnvoyFilter
	for _, h := range []string{"a.ns", "b.ns", "c.ns"} {
		u := unitOf(h, "10.0.0.1")
		good = append(good, as.assemble("root", h, u.Service, nil, []*Unit{u}, outbound))
	}
	if !proto.Equal(efBad.Spec(), want) {
		t.Errorf("the kept spec changed when the next EnvoyFilters were assembled:\n%v\nwant\n%v", efBad.Spec(), want)
	}
	for _, ef := range good {
		if ef.EncodedSpec() == nil || HoldsSpec(ef) {
			t.Fatalf("%s: not encoded, or its spec kept", ef.Name)
		}
		if got := ef.Spec().GetConfigPatches()[0].GetMatch().GetListener().GetName(); got != "10.0.0.1_80" {
			t.Errorf("%s: listener %q", ef.Name, got)
		}
		if got := ef.Annotation(servicePortAnnotation); got != ef.Name+":80" {
			t.Errorf("%s: annotation %q", ef.Name, got)
		}
	}
	if c := as.arena.specs; c.b != 0 || c.i != 0 || len(c.blocks) != 1 || as.arena.matches.i != 0 || as.arena.patches.i != 0 {
		t.Errorf("the arena was not reused: next spec at %d.%d of %d blocks", c.b, c.i, len(c.blocks))
	}
}

// TestEnvoyFilterKeyNamesAsEnvoyFilterName: the name envoyFilterKey cuts
// from the key is envoyFilterName's, for upper-case, non-ASCII and too
// long hosts too.
func TestEnvoyFilterKeyNamesAsEnvoyFilterName(t *testing.T) {
	for _, host := range []string{"a.ns.svc.cluster.local", "A.NS.svc", "İstanbul.example", strings.Repeat("h", 246), strings.Repeat("h", 300), strings.Repeat("İ", 120)} {
		key, name := envoyFilterKey("root", "outbound", host)
		if want := envoyFilterName("outbound", host); name != want || key != "root/"+want {
			t.Errorf("%q: key %q, name %q, want name %q", host, key, name, want)
		}
	}
}

// TestChunksKeepValuesInPlace: values handed out stay where they are as
// more blocks are made, and come back zeroed after free.
func TestChunksKeepValuesInPlace(t *testing.T) {
	var c chunks[[2]int]
	var got []*[2]int
	for i := range 200 {
		v := c.get()
		v[0] = i
		got = append(got, v)
	}
	for i, v := range got {
		if v[0] != i {
			t.Fatalf("value %d moved or was overwritten: %v", i, v)
		}
	}
	c.free()
	if v := c.get(); v != got[0] || v[0] != 0 {
		t.Errorf("after free: %p %v, want %p zeroed", v, v, got[0])
	}
	if n := len(c.blocks); n != 7 || len(c.blocks[0]) != 4 || len(c.blocks[6]) != maxChunk { // 4+8+16+32+64+64+64
		t.Errorf("%d blocks, first of %d", n, len(c.blocks[0]))
	}
}

// TestAppendSourcesSharesOneUnitsList: the sources of the first unit are
// its own list (capacity cut), and the next unit's are appended to a
// copy, once each, leaving the first unit's list as it was.
func TestAppendSourcesSharesOneUnitsList(t *testing.T) {
	a, b, c := model.ObjectRef{Kind: "Service", Name: "a"}, model.ObjectRef{Kind: "MetaRouter", Name: "b"}, model.ObjectRef{Kind: "MetaRouter", Name: "c"}
	first := make([]model.ObjectRef, 2, 8)
	first[0], first[1] = a, b
	got := appendSources(nil, first)
	if &got[0] != &first[0] || cap(got) != 2 {
		t.Fatalf("the first unit's list was copied (or keeps its capacity: %d)", cap(got))
	}
	got = appendSources(got, []model.ObjectRef{b, c})
	if !slices.Equal(got, []model.ObjectRef{a, b, c}) || &got[0] == &first[0] {
		t.Fatalf("after the second unit: %v (shared %v)", got, &got[0] == &first[0])
	}
	if first[:cap(first)][2] != (model.ObjectRef{}) {
		t.Error("the second unit's objects were written into the first unit's list")
	}
	if dup := appendSources(nil, []model.ObjectRef{a, a}); !slices.Equal(dup, []model.ObjectRef{a}) {
		t.Errorf("a list with a duplicate: %v", dup)
	}
}

// TestDecodedSpecIsKeptOnlyWhileHeld: Spec of an assembled EnvoyFilter
// decodes its encoding; a caller holding the decoding gets it again, and
// once nobody holds it the EnvoyFilter does not keep it alive (a dump of
// every spec would otherwise stay for as long as the EnvoyFilters).
func TestDecodedSpecIsKeptOnlyWhileHeld(t *testing.T) {
	spec := &networkingv1alpha3.EnvoyFilter{Priority: 3, ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{{ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER}}}
	enc, ok := encodeSpec(spec, nil, 0, nil)
	if !ok {
		t.Fatal("the spec does not encode")
	}
	ef := &EnvoyFilter{Namespace: "ns", Name: "n", enc: enc}
	held := ef.Spec()
	if !proto.Equal(held, spec) {
		t.Fatalf("Spec decodes to %v, want %v", held, spec)
	}
	if again := ef.Spec(); again != held {
		t.Error("a decoding still held is decoded again")
	}
	runtime.KeepAlive(held)
	held = nil
	runtime.GC()
	runtime.GC()
	if enc.dec.Value() != nil {
		t.Error("the EnvoyFilter keeps its decoded spec once nobody holds it")
	}
}
