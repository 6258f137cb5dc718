package translate_test

import (
	"bytes"
	"strings"
	"testing"

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
