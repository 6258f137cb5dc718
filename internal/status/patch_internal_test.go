package status

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// TestStatusPatchIsMergeFroms: the merge patch written directly makes of
// the object what client.MergeFrom's diff (with the optimistic lock)
// made of it, for a status written the first time and one that changes.
func TestStatusPatchIsMergeFroms(t *testing.T) {
	at := metav1.Unix(1700000000, 0)
	for name, before := range map[string]conditions.Status{
		"first":   {},
		"changed": {ObservedGeneration: 1, Conditions: []metav1.Condition{{Type: "Accepted", Status: "False", Reason: "Invalid", Message: "bad", ObservedGeneration: 1, LastTransitionTime: at}, {Type: "Other", Status: "True", Reason: "Kept", LastTransitionTime: at}}},
	} {
		base := &metaprotocolv1alpha1.MetaRouter{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", ResourceVersion: "42", Generation: 2, Labels: map[string]string{"a": "b"}}}
		base.Spec.Hosts = []string{"svc"}
		base.Status = before
		obj := base.DeepCopy()
		next := conditions.Status{Conditions: append([]metav1.Condition(nil), before.Conditions...), ObservedGeneration: 2}
		for _, c := range []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", ObservedGeneration: 2, LastTransitionTime: at}, {Type: "Programmed", Status: "True", Reason: "Programmed", ObservedGeneration: 2, LastTransitionTime: at}} {
			apimeta.SetStatusCondition(&next.Conditions, c)
		}
		if !statusAtTop(obj, &obj.Status) {
			t.Fatalf("%s: a MetaRouter's status is not found at the top", name)
		}
		direct, err := statusPatch(obj.GetResourceVersion(), next)
		if err != nil {
			t.Fatal(err)
		}
		obj.Status = next
		diffed, err := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}).Data(obj)
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := json.Marshal(base)
		a, err := jsonpatch.MergePatch(orig, direct)
		if err != nil {
			t.Fatal(err)
		}
		b, err := jsonpatch.MergePatch(orig, diffed)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonpatch.Equal(a, b) {
			t.Errorf("%s: patched directly\n%s\nby the diff\n%s", name, a, b)
		}
		var p map[string]map[string]any
		if err := json.Unmarshal(direct, &p); err != nil || p["metadata"]["resourceVersion"] != "42" {
			t.Errorf("%s: the patch %s does not carry the resourceVersion read", name, direct)
		}
	}
}

// TestStatusElsewhereIsDiffed: a kind whose status accessor returns
// something other than the object's "status" field is patched by the
// diff, which finds where it is.
func TestStatusElsewhereIsDiffed(t *testing.T) {
	mr := &metaprotocolv1alpha1.MetaRouter{}
	var elsewhere conditions.Status
	if statusAtTop(mr, &elsewhere) {
		t.Error("a status outside the object was taken for its status field")
	}
}
