package model_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestDepSetKeepsEveryKeyAndRevision: sealing a record loses nothing,
// whatever its keys (sharing prefixes, long ones)
// and revisions (hex digests stored as numbers, anything else as it is).
func TestDepSetKeepsEveryKeyAndRevision(t *testing.T) {
	long := strings.Repeat("k", 600)
	cases := []model.Deps{
		nil,
		{},
		{"svc:a.ns.svc.cluster.local": "098df8db756c51d8"},
		{
			"r:DubboAuthorizationPolicy.dubbo.aeraki.io#istio-system": "",
			"r:DubboAuthorizationPolicy.dubbo.aeraki.io#ns-54":        "",
			"svc:svc-03554.ns-54.svc.cluster.local":                   "098df8db756c51d8",
			"svc:svc-03554.ns-54.svc.cluster":                         "0000000000000000",
			"":                                                        "ffffffffffffffff",
			"upper":                                                   "098DF8DB756C51D8",
			"short":                                                   "098df8db756c51d",
			"long-rev":                                                "098df8db756c51d80",
			"odd":                                                     "not a digest, é",
			long:                                                      model.Revision(long),
			long + "x":                                                "1",
		},
	}
	many := model.Deps{}
	for i := range 300 {
		many[strings.Repeat("x", i%40)+string(rune('a'+i%26))+strings.Repeat("y", i)] = model.Revision(strings.Repeat("0123456789abcdef", 1+i%2)[:16])
	}
	cases = append(cases, many)
	for i, d := range cases {
		s := d.Seal()
		if s.Len() != len(d) {
			t.Errorf("case %d: Len %d, want %d", i, s.Len(), len(d))
		}
		if got := s.Deps(); !maps.Equal(got, d) {
			t.Errorf("case %d: sealed and read back:\n%v\nwant\n%v", i, got, d)
		}
		var prev string
		n := 0
		s.Each(func(k, _ []byte) {
			if n > 0 && string(k) <= prev {
				t.Errorf("case %d: keys out of order: %q after %q", i, k, prev)
			}
			prev, n = string(k), n+1
		})
	}
}

// TestDepSetChangedAsDeps: a sealed record sees the changes its map
// sees, and ReadsAny finds exactly the keys it holds.
func TestDepSetChangedAsDeps(t *testing.T) {
	before := build(t)
	deps := model.Deps{}
	v := before.TrackedView(deps)
	v.Service("a.ns.svc.cluster.local")
	v.ObjectsInNamespace(pluginKind.GroupKind(), "ns")
	v.Service("nowhere.ns.svc.cluster.local")
	s := deps.Seal()
	if s.Changed(before) || s.Changed(build(t)) {
		t.Fatal("an equal snapshot is seen as a change")
	}
	after := build(t, service("nowhere", nil))
	if !deps.Changed(after) || !s.Changed(after) {
		t.Fatal("a service added where the record read nothing is not a change")
	}
	keys := model.Diff(before, after)
	if !s.ReadsAny(keys) {
		t.Fatalf("ReadsAny(%v) is false for %v", keys, deps)
	}
	if s.ReadsAny([]string{"a", "svc:b", "zz"}) || s.ReadsAny(nil) || (model.DepSet{}).ReadsAny(keys) {
		t.Fatal("ReadsAny finds keys the record does not hold")
	}
	n := 0
	s.EachKey(before, func(k string) {
		if _, ok := deps[k]; !ok {
			t.Errorf("EachKey yields %q, not recorded", k)
		}
		n++
	})
	if n != len(deps) {
		t.Errorf("EachKey yields %d keys, want %d", n, len(deps))
	}
	// AddTo records the sealed revisions, also those the snapshot no
	// longer has.
	into := model.Deps{}
	s.AddTo(into, after)
	if !maps.Equal(into, deps) {
		t.Fatalf("AddTo: %v, want %v", into, deps)
	}
}
