package translate_test

import (
	"strings"
	"testing"
)

// An EnvoyFilter whose units were all reused is taken as is (the same
// object, not assembled again), and one whose units changed is assembled
// again, including when no plugin output changed but the service's
// address, which names the listener the patch matches, did.
func TestEnvoyFiltersAreReassembledOnlyWhenTheirUnitsChange(t *testing.T) {
	tr := newTranslator(t)
	first := tr.Translate(snapshot(t, mesh))
	changed := tr.Translate(snapshot(t, strings.Replace(mesh, "exact: sayHello", "exact: sayBye", 1)))
	const a, b = "aeraki-outbound-a.ns.svc.cluster.local", "aeraki-outbound-b.ns.svc.cluster.local"
	if envoyFilter(changed, a) != envoyFilter(first, a) {
		t.Error("a's EnvoyFilter was assembled again although none of its units changed")
	}
	if envoyFilter(changed, b) == envoyFilter(first, b) {
		t.Error("b's EnvoyFilter was not assembled again after its router changed")
	}

	moved := tr.Translate(snapshot(t, strings.Replace(strings.Replace(mesh, "exact: sayHello", "exact: sayBye", 1), "clusterIP: 10.0.0.1", "clusterIP: 10.0.0.9", 1)))
	ef := envoyFilter(moved, a)
	if ef.Revision == envoyFilter(changed, a).Revision {
		t.Fatal("a's EnvoyFilter kept its revision after a's cluster IP changed")
	}
	if got := ef.Spec().GetConfigPatches()[0].GetMatch().GetListener().GetName(); got != "10.0.0.9_20880" {
		t.Fatalf("a's patch matches listener %s, want 10.0.0.9_20880", got)
	}
}
