package conditions

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetCondition(t *testing.T) {
	var s Status
	if !s.SetCondition(metav1.Condition{Type: TypeAccepted, Status: metav1.ConditionFalse, Reason: ReasonInvalidRoute, Message: "route 0"}) {
		t.Fatal("adding a condition must report a change")
	}
	if s.IsTrue(TypeAccepted) {
		t.Error("Accepted is False")
	}
	if !s.SetCondition(metav1.Condition{Type: TypeAccepted, Status: metav1.ConditionTrue, Reason: ReasonAccepted}) {
		t.Fatal("flipping the status must report a change")
	}
	if s.SetCondition(metav1.Condition{Type: TypeAccepted, Status: metav1.ConditionTrue, Reason: ReasonAccepted}) {
		t.Error("setting the same condition again must report no change")
	}
	if len(s.Conditions) != 1 || !s.IsTrue(TypeAccepted) || s.Condition(TypeAccepted).Reason != ReasonAccepted {
		t.Errorf("want one Accepted=True condition, got %+v", s.Conditions)
	}
	if s.Condition(TypeProgrammed) != nil {
		t.Error("Programmed was never set")
	}
}
