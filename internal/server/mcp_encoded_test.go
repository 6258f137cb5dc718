package server

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	mcp "istio.io/api/mcp/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/internal/translate"
)

// TestMCPResourceSendsTheTranslatorsEncoding: what istiod receives for an
// EnvoyFilter, sent from the translator's encoding of the spec, decodes
// to the same resource as encoding the spec here; a redacted copy is
// encoded from its own (redacted) spec.
func TestMCPResourceSendsTheTranslatorsEncoding(t *testing.T) {
	s := benchServer(t)
	out, _ := s.generate(meshSnapshot(t, 20, ""))
	if len(out.EnvoyFilters) == 0 {
		t.Fatal("no EnvoyFilters")
	}
	decode := func(ef *translate.EnvoyFilter, enc func(*translate.EnvoyFilter) ([]byte, error)) (*mcp.Resource, *networkingv1alpha3.EnvoyFilter) {
		t.Helper()
		b, err := enc(ef)
		if err != nil {
			t.Fatal(err)
		}
		res := &mcp.Resource{}
		if err := proto.Unmarshal(b, res); err != nil {
			t.Fatal(err)
		}
		spec := &networkingv1alpha3.EnvoyFilter{}
		if err := res.GetBody().UnmarshalTo(spec); err != nil {
			t.Fatal(err)
		}
		return res, spec
	}
	sent := func(ef *translate.EnvoyFilter) ([]byte, error) { a, err := mcpResource(ef); return a.GetValue(), err }
	encoded := func(ef *translate.EnvoyFilter) ([]byte, error) {
		a, err := encodeResource(ef)
		return a.GetValue(), err
	}
	for _, ef := range out.EnvoyFilters {
		if ef.EncodedSpec() == nil {
			t.Fatalf("EnvoyFilter %s has no encoding from the translator", ef.Name)
		}
		r1, s1 := decode(ef, sent)
		r2, s2 := decode(ef, encoded)
		if !proto.Equal(s1, ef.Spec()) || !proto.Equal(s1, s2) || !proto.Equal(r1.GetMetadata(), r2.GetMetadata()) || r1.GetBody().GetTypeUrl() != r2.GetBody().GetTypeUrl() {
			t.Fatalf("EnvoyFilter %s: sent %v / %v, encoded here %v / %v", ef.Name, r1.GetMetadata(), s1, r2.GetMetadata(), s2)
		}
	}
	orig := out.EnvoyFilters[0]
	spec := proto.Clone(orig.Spec()).(*networkingv1alpha3.EnvoyFilter)
	spec.Priority = 7 // a copy with another spec, as RedactEnvoyFilter makes
	ef := translate.NewEnvoyFilter(orig.Namespace, orig.Name, spec)
	if _, s := decode(ef, sent); s.GetPriority() != 7 {
		t.Errorf("a copy with another spec was sent with the original's encoding")
	}
}

// TestAppendResourceIsProtoMarshal: the MCP resource written by hand is
// byte for byte the deterministic proto.Marshal of the mcp.Resource
// wrapResource builds, for the EnvoyFilters of a mesh and for edge cases
// (empty names, labels and values; many annotations; no spec bytes).
func TestAppendResourceIsProtoMarshal(t *testing.T) {
	s := benchServer(t)
	out, _ := s.generate(meshSnapshot(t, 20, ""))
	efs := out.EnvoyFilters
	odd := translate.NewEnvoyFilter("", "", &networkingv1alpha3.EnvoyFilter{})
	odd.Labels = map[string]string{"": "", "a": ""}
	for i := range 12 {
		odd.SetAnnotation(string(rune('z'-i))+"-key", strings.Repeat("v", 40*i))
	}
	efs = append(efs, odd, translate.NewEnvoyFilter("ns", strings.Repeat("n", 300), &networkingv1alpha3.EnvoyFilter{}))
	for _, ef := range efs {
		spec := ef.EncodedSpec()
		if spec == nil {
			spec = []byte{}
		}
		got, ok := appendResource(ef, spec)
		if !ok {
			t.Fatalf("EnvoyFilter %s/%s: not encoded", ef.Namespace, ef.Name)
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&mcp.Resource{
			Metadata: &mcp.Metadata{Name: ef.Namespace + "/" + ef.Name, Version: string(ef.Revision), Labels: ef.Labels, Annotations: ef.Annotations()},
			Body:     &anypb.Any{TypeUrl: envoyFilterTypeURL, Value: spec},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("EnvoyFilter %s/%s:\n got %x\nwant %x", ef.Namespace, ef.Name, got, want)
		}
		if cap(got) != len(got) {
			t.Errorf("EnvoyFilter %s/%s: buffer of %d for %d bytes", ef.Namespace, ef.Name, cap(got), len(got))
		}
	}
	bad := translate.NewEnvoyFilter("ns", "n", &networkingv1alpha3.EnvoyFilter{})
	bad.Labels = map[string]string{"k": "\xff"}
	if _, ok := appendResource(bad, nil); ok {
		t.Error("a label that is not UTF-8 was encoded")
	}
}

// TestMCPResourceSharesTheSpecBytes: the resource sent for a translated
// EnvoyFilter is proto.Marshal's bytes (appendResource's) and holds the
// translator's encoding of the spec itself, not a copy: its last bytes
// are the spec's. Encoding it again (another publisher of the same
// translation) gives the same bytes.
func TestMCPResourceSharesTheSpecBytes(t *testing.T) {
	s := benchServer(t)
	out, _ := s.generate(meshSnapshot(t, 20, ""))
	for _, ef := range out.EnvoyFilters {
		spec := ef.EncodedSpec()
		a, err := mcpResource(ef)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := appendResource(ef, spec)
		if !bytes.Equal(a.GetValue(), want) {
			t.Fatalf("EnvoyFilter %s/%s:\n got %x\nwant %x", ef.Namespace, ef.Name, a.GetValue(), want)
		}
		got := a.GetValue()
		if len(spec) == 0 || &got[len(got)-len(spec)] != &spec[0] {
			t.Fatalf("EnvoyFilter %s/%s: the resource holds a copy of the spec", ef.Namespace, ef.Name)
		}
		again, _ := mcpResource(ef)
		if &again.GetValue()[0] != &got[0] {
			t.Errorf("EnvoyFilter %s/%s: encoded again into a new buffer", ef.Namespace, ef.Name)
		}
	}
}
