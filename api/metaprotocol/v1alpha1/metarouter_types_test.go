package v1alpha1

import "testing"

func TestFaultStatusCode(t *testing.T) {
	for s, want := range map[FaultStatus]int32{FaultStatusCancelled: 1, FaultStatusUnavailable: 14, FaultStatusUnauthenticated: 16} {
		if got, ok := s.Code(); !ok || got != want {
			t.Errorf("%s.Code() = %d, %v; want %d", s, got, ok, want)
		}
	}
	if _, ok := FaultStatus("OK").Code(); ok {
		t.Error("OK is not an abort status")
	}
	if len(faultStatusCodes) != 16 {
		t.Errorf("want the 16 non-OK gRPC codes, have %d", len(faultStatusCodes))
	}
}

func TestStringMatchIsPresenceMatch(t *testing.T) {
	if !(StringMatch{}).IsPresenceMatch() || (StringMatch{Regex: "1|2"}).IsPresenceMatch() {
		t.Error("only an empty StringMatch is a presence match")
	}
}
