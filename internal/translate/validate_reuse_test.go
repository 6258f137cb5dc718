package translate_test

import (
	"strings"
	"testing"
)

// The core's verdict on a MetaRouter is reused only while what it read is
// unchanged: a router naming a subset no DestinationRule declares is
// rejected, and accepted as soon as the subset appears, without the
// router itself changing; the verdict survives unrelated changes.
func TestMetaRouterVerdictFollowsWhatItRead(t *testing.T) {
	tr := newTranslator(t)
	noSubset := strings.Replace(mesh, "{name: v2, labels: {version: v2}}", "{name: v3, labels: {version: v3}}", 1)
	bad := tr.Translate(snapshot(t, noSubset))
	if len(bad.Rejected) != 1 || bad.Rejected[0].Name != "good" {
		t.Fatalf("router to a missing subset: rejected %v, want the router", bad.Rejected)
	}
	// An unrelated change keeps the verdict (and its diagnostic).
	again := tr.Translate(snapshot(t, strings.Replace(noSubset, "clusterIP: 10.0.0.2", "clusterIP: 10.0.0.3", 1)))
	if len(again.Rejected) != 1 || len(errorsOf(again)) != len(errorsOf(bad)) {
		t.Fatalf("after an unrelated change: rejected %v, errors %v", again.Rejected, errorsOf(again))
	}
	fixed := tr.Translate(snapshot(t, mesh))
	if len(fixed.Rejected) != 0 || len(errorsOf(fixed)) != 0 {
		t.Fatalf("after the subset was declared: rejected %v, errors %v", fixed.Rejected, errorsOf(fixed))
	}
}
