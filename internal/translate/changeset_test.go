package translate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// chainMesh is n Dubbo services s00.. in namespace ns, each with a
// DestinationRule (subsets v1, v2) and a MetaRouter sending sayHello to
// the next service's subset v2: s04's router reads s05's subsets. v2of
// sets the labels of one service's v2 subset.
func chainMesh(n int, v2of map[string]string) string {
	var docs []string
	for i := range n {
		name, next := fmt.Sprintf("s%02d", i), fmt.Sprintf("s%02d", (i+1)%n)
		v2 := "v2"
		if l, ok := v2of[name]; ok {
			v2 = l
		}
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: ns}
spec:
  clusterIP: 10.0.1.%[3]d
  selector: {app: %[1]s}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: ns}
spec:
  host: %[1]s
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: %[4]s}}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: %[1]s, namespace: ns}
spec:
  hosts: [%[1]s]
  routes:
  - match: {attributes: {method: {exact: sayHello}}}
    route: [{destination: {host: %[2]s, subset: v2}}]
`, name, next, i+1, v2))
	}
	return strings.Join(docs, "---\n")
}

// rebuilt lists the units of cur that are not the very units of prev:
// a reused unit is carried over as it was.
func rebuilt(prev, cur *translate.Output) []string {
	was := map[string]*translate.Unit{}
	for _, u := range prev.Units {
		was[u.Key] = u
	}
	var out []string
	for _, u := range cur.Units {
		if was[u.Key] != u {
			out = append(out, u.Key)
		}
	}
	return out
}

// TestChangeSetRebuildsTheUnitsThatReadAChangedKey: editing s05's
// DestinationRule rebuilds the unit of s04's outbound chain, whose router
// reads s05's subsets, although s04's own objects did not change; it is
// found through the change set, not by reading every unit's inputs, and
// the result is the one a fresh translator gives.
func TestChangeSetRebuildsTheUnitsThatReadAChangedKey(t *testing.T) {
	tr := newTranslator(t)
	first := tr.Translate(snapshot(t, chainMesh(20, nil)))
	if !first.Stats.FullCheck {
		t.Fatalf("the first translation has no change set to work from: %+v", first.Stats)
	}
	snap := snapshot(t, chainMesh(20, map[string]string{"s05": "v2-canary"}))
	edited := tr.Translate(snap)
	st := edited.Stats
	if st.FullCheck || st.ChangedKeys == 0 {
		t.Fatalf("one DestinationRule edited: %+v, want a translation from a change set", st)
	}
	got := rebuilt(first, edited)
	outbound := translate.UnitKey(plugin.RoleSidecarOutbound, "s04.ns.svc.cluster.local", 20880)
	found := false
	for _, k := range got {
		found = found || k == outbound
		if !strings.Contains(k, "s04.") && !strings.Contains(k, "s05.") {
			t.Errorf("unit %s was rebuilt, though it reads nothing of s05's DestinationRule", k)
		}
	}
	if !found {
		t.Fatalf("rebuilt units %v: want %s, whose router reads s05's subsets", got, outbound)
	}
	if st.RecordsChecked > 6 {
		t.Errorf("%d records were read against the snapshot for one DestinationRule edit, want those of s04 and s05 only", st.RecordsChecked)
	}
	if d := firstDifference(digest(edited), digest(newTranslator(t).Translate(snap))); d != "" {
		t.Fatalf("the translation from a change set differs from a fresh one at %s", d)
	}
}

// TestChangeSetUnrelatedEditRebuildsNothing: a change no build read (a
// Secret nobody names) rebuilds nothing and reads no unit's, proxy's or
// router verdict's inputs.
func TestChangeSetUnrelatedEditRebuildsNothing(t *testing.T) {
	tr := newTranslator(t)
	first := tr.Translate(snapshot(t, chainMesh(20, nil)))
	secret := `apiVersion: v1
kind: Secret
metadata: {name: unrelated, namespace: other}
data: {token: c2VjcmV0}
`
	out := tr.Translate(snapshot(t, chainMesh(20, nil), secret))
	st := out.Stats
	if st.FullCheck || st.ChangedKeys == 0 {
		t.Fatalf("a Secret added: %+v, want a translation from a change set", st)
	}
	if st.UnitsBuilt != 0 || st.RecordsChecked != 0 || len(rebuilt(first, out)) != 0 {
		t.Fatalf("a Secret nobody reads: %+v (rebuilt %v), want nothing built and no record read", st, rebuilt(first, out))
	}
	if st.UnitsReused != first.Stats.UnitsBuilt {
		t.Fatalf("reused %d units, want all %d", st.UnitsReused, first.Stats.UnitsBuilt)
	}
}
