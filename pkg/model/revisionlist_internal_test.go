package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// TestListRevisionIsTheHashOfItsJSON pins plainListRevision to what
// RevisionOf hashed before it streamed the list: the JSON encoding's
// SHA-256, across the hash buffer's boundaries.
func TestListRevisionIsTheHashOfItsJSON(t *testing.T) {
	many := make([]Revision, 5000)
	for i := range many {
		many[i] = Revision(strings.Repeat("0123456789abcdef", 3)[:i%40+1])
	}
	for name, rs := range map[string][]Revision{
		"nil":        nil,
		"empty":      {},
		"one":        {"abc"},
		"empty item": {"", "a", ""},
		"many":       many,
		"long":       {"a", Revision(strings.Repeat("f", 5000)), "b"},
		"at the end": {Revision(strings.Repeat("e", 2044)), Revision(strings.Repeat("d", 2046)), "c"},
	} {
		b, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		want := Revision(hex.EncodeToString(sum[:8]))
		got, ok := plainListRevision(rs)
		if !ok || got != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, ok, want)
		}
		if r := RevisionOf(rs); r != want {
			t.Errorf("%s: RevisionOf = %q, want %q", name, r, want)
		}
	}
	// A revision JSON would escape takes the encoder's path.
	if _, ok := plainListRevision([]Revision{"a<b"}); ok {
		t.Error("a revision with '<' was hashed as plain")
	}
	b, _ := json.Marshal([]Revision{"a<b"})
	sum := sha256.Sum256(b)
	if got := RevisionOf([]Revision{"a<b"}); got != Revision(hex.EncodeToString(sum[:8])) {
		t.Errorf("escaped list: %q", got)
	}
}
