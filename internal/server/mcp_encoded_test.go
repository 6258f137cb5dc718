package server

import (
	"testing"

	"google.golang.org/protobuf/proto"
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
