package translate

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestDepIndex: the holders of a key are found whether the key has a
// few (a list) or many (a set, past maxFewHolders), adding twice holds
// once, and removing the last holder drops the key.
func TestDepIndex(t *testing.T) {
	x := depIndex{}
	few, many := model.Deps{"few": ""}.Seal(), model.Deps{"many": "", "few2": ""}.Seal()
	holders := func(key string) []string {
		return slices.Sorted(maps.Keys(x.touched(changeSet{keys: []string{key}})))
	}
	x.add("a", few, nil)
	x.add("b", few, nil)
	x.add("a", few, nil)
	if got := holders("few"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("few: %v", got)
	}
	var want []string
	for i := range 3 * maxFewHolders {
		h := fmt.Sprintf("h%03d", i)
		x.add(h, many, nil)
		x.add(h, many, nil)
		want = append(want, h)
	}
	if got := holders("many"); !slices.Equal(got, want) {
		t.Fatalf("many: %d holders, want %d", len(got), len(want))
	}
	if got := holders("few2"); !slices.Equal(got, want) {
		t.Fatalf("few2: %d holders, want %d", len(got), len(want))
	}
	for _, h := range want[1:] {
		x.remove(h, many, nil)
	}
	if got := holders("many"); !slices.Equal(got, want[:1]) {
		t.Fatalf("many after removals: %v", got)
	}
	x.remove(want[0], many, nil)
	x.remove("a", few, nil)
	x.remove("a", few, nil)
	if got := holders("few"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("few after removal: %v", got)
	}
	x.add("c", few, nil)
	x.remove("b", few, nil)
	x.add("d", few, nil)
	if got := holders("few"); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("few after removing the first: %v", got)
	}
	x.remove("c", few, nil)
	x.remove("d", few, nil)
	if len(x) != 0 {
		t.Fatalf("keys left: %v", slices.Collect(maps.Keys(x)))
	}
	if x.touched(changeSet{full: true}) != nil {
		t.Error("a full change set touches holders")
	}
}
