package model

import (
	"reflect"
	"testing"
)

func TestCowMapCloneSharesUntilWritten(t *testing.T) {
	m := newCowMap[int]()
	for i, h := range []string{"a.ns.svc", "b.ns.svc", "c.ns.svc", "d.other.svc"} {
		m.set(h, i)
	}
	c := m.clone()
	c.set("a.ns.svc", 10) // changes a shard
	c.set("e.ns.svc", 4)  // adds a key
	c.del("d.other.svc")  // removes one
	c.del("missing")      // no-op

	if got := m.get("a.ns.svc"); got != 0 {
		t.Errorf("original a = %d after the clone wrote it, want 0", got)
	}
	if _, ok := m.lookup("e.ns.svc"); ok {
		t.Error("original has the key only the clone added")
	}
	if got, ok := m.lookup("d.other.svc"); !ok || got != 3 {
		t.Errorf("original d = %d, %v after the clone deleted it, want 3, true", got, ok)
	}
	if m.len() != 4 || c.len() != 4 {
		t.Errorf("len: original %d, clone %d; want 4 and 4", m.len(), c.len())
	}
	want := map[string]int{"a.ns.svc": 10, "b.ns.svc": 1, "c.ns.svc": 2, "e.ns.svc": 4}
	got := map[string]int{}
	for k, v := range c.all() {
		got[k] = v
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clone holds %v, want %v", got, want)
	}
	// What the clone did not write, it shares: only the shards of the
	// keys it wrote are copies.
	written := map[int]bool{shardOf("a.ns.svc"): true, shardOf("e.ns.svc"): true, shardOf("d.other.svc"): true}
	for i := range cowShards {
		same := reflect.ValueOf(m.shards[i]).UnsafePointer() == reflect.ValueOf(c.shards[i]).UnsafePointer()
		if written[i] == same && m.shards[i] != nil {
			t.Errorf("shard %d: shared %v, want %v", i, same, !written[i])
		}
	}
	// A clone of a clone writes its own copies, not its parent's.
	cc := c.clone()
	cc.set("b.ns.svc", 11)
	if c.get("b.ns.svc") != 1 {
		t.Error("a clone's clone wrote into its parent")
	}
}

func TestCowMapNil(t *testing.T) {
	var m *cowMap[[]string]
	if m.get("x") != nil || m.len() != 0 {
		t.Error("a nil cowMap is not empty")
	}
	for range m.all() {
		t.Error("a nil cowMap yields entries")
	}
	c := m.clone()
	c.set("x", []string{"y"})
	if c.len() != 1 {
		t.Error("a clone of nil does not take writes")
	}
}
