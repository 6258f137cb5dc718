package translate

import (
	"bytes"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
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
	ef := &EnvoyFilter{Namespace: "ns", Name: "n", Labels: map[string]string{"k": "v"}, Annotations: map[string]string{"a": strings.Repeat("x", 300)}}
	want := 79 + len("ns/n") + revisionLen + (9 + 2) + (9 + 1 + 300)
	if got := envelopeRoom(ef); got < want {
		t.Errorf("envelopeRoom = %d, want at least %d", got, want)
	}
}
