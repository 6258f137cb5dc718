package translate_test

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/translate"
)

// TestAssembledEnvoyFiltersKeepOnlyTheirEncoding: an assembled EnvoyFilter
// (sidecar and istiod-served waypoint alike) holds its spec as bytes
// only; Spec decodes them once (the same message on every call), to a spec
// whose deterministic encoding is those bytes, so what istiod is sent and
// what render and debug output show are one spec. A redacted copy has
// its own spec and no encoding.
func TestAssembledEnvoyFiltersKeepOnlyTheirEncoding(t *testing.T) {
	outs := []*translate.Output{
		newTranslator(t).Translate(snapshot(t, mesh)),
		istiodTranslator(t).Translate(snapshot(t, istiodWaypointMesh, strings.ReplaceAll(istiodWaypointRouter, "%s", "sayHello"))),
	}
	waypoints := 0
	for _, out := range outs {
		if len(out.EnvoyFilters) == 0 {
			t.Fatal("no EnvoyFilters")
		}
		for _, ef := range out.EnvoyFilters {
			if strings.Contains(ef.Name, "waypoint") {
				waypoints++
			}
			if translate.HoldsSpec(ef) {
				t.Errorf("%s keeps its spec as a message", ef.Name)
			}
			enc := ef.EncodedSpec()
			spec := ef.Spec()
			if enc == nil || spec == nil || ef.Spec() != spec {
				t.Fatalf("%s: encoding %v, spec decoded again on a second call: %v", ef.Name, enc != nil, ef.Spec() != spec)
			}
			if b, err := (proto.MarshalOptions{Deterministic: true}).Marshal(spec); err != nil || !bytes.Equal(b, enc) {
				t.Errorf("%s: the decoded spec encodes to other bytes (%v)", ef.Name, err)
			}
			if len(spec.GetConfigPatches()) == 0 {
				t.Errorf("%s: decoded without patches", ef.Name)
			}
			if r := translate.RedactEnvoyFilter(ef); r != ef && (r.EncodedSpec() != nil || r.Spec() == spec) {
				t.Errorf("%s: the redacted copy shares the spec or its encoding", ef.Name)
			}
		}
	}
	if waypoints == 0 {
		t.Error("no waypoint EnvoyFilter checked")
	}
}

// TestEnvoyFilterKeyIsMadeOnce: an assembled EnvoyFilter's Key is
// "<namespace>/<name>" without a new string per call, its Name a part of
// it; a hand-built one's, or one whose Name was changed, is made from
// Namespace and Name.
func TestEnvoyFilterKeyIsMadeOnce(t *testing.T) {
	out := newTranslator(t).Translate(snapshot(t, mesh))
	if len(out.EnvoyFilters) == 0 {
		t.Fatal("no EnvoyFilters")
	}
	for _, ef := range out.EnvoyFilters {
		k := ef.Key()
		if k != ef.Namespace+"/"+ef.Name {
			t.Fatalf("Key %q for %s/%s", k, ef.Namespace, ef.Name)
		}
		if unsafe.StringData(k[len(ef.Namespace)+1:]) != unsafe.StringData(ef.Name) {
			t.Errorf("%s: the name is not a part of the key", k)
		}
		if n := testing.AllocsPerRun(10, func() { _ = ef.Key() }); n != 0 {
			t.Errorf("%s: Key allocates %v times", k, n)
		}
		c := *ef
		c.Name = "other"
		if got := c.Key(); got != ef.Namespace+"/other" {
			t.Errorf("renamed copy: Key %q", got)
		}
	}
	if got := translate.NewEnvoyFilter("ns", "n", nil).Key(); got != "ns/n" {
		t.Errorf("hand-built: Key %q", got)
	}
}
