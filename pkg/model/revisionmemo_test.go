package model_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestRevisionMemoGivesTheSameRevisions: a build with a memo gives every
// object the revision a build without one gives it, for objects seen
// before and for new ones.
func TestRevisionMemoGivesTheSameRevisions(t *testing.T) {
	a, b := service("a", nil), service("b", nil)
	memo := model.NewRevisionMemo()
	for i, objs := range [][]*corev1.Service{{a}, {a, b}, {b}} {
		with := model.NewBuilder(model.Options{})
		with.UseRevisionMemo(memo)
		without := model.NewBuilder(model.Options{})
		for _, o := range objs {
			must(t, with.Add(o, model.Origin{}))
			must(t, without.Add(o, model.Origin{}))
		}
		if d := model.Diff(without.Build(), with.Build()); len(d) != 0 {
			t.Errorf("build %d: revisions differ with the memo: %v", i, d)
		}
	}
}
