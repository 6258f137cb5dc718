package model

import (
	"iter"
	"maps"
)

// cowMap is a map from strings (hostnames, namespaces) whose copies share
// what they did not change. A snapshot's routing indexes by host (one entry per hostname,
// 10,000 in a mesh of 10,000 MetaRouters) are derived by every Edit that
// touches a routing object, and copying them whole (maps.Clone) was a
// third of what a MetaRouter edit allocated: ~2.4 MB per edit at 10,000
// services, garbage that brought the next collection of a large heap
// sooner. A clone shares the shards of its original; the first write to a
// shard copies that shard alone (1/64th of the map).
//
// It has the reference semantics of a Go map: a *cowMap written after it
// was cloned changes what its clones see, so, as with maps.Clone, only
// the clone is written. Reads are safe from any number of goroutines once
// nobody writes.
type cowMap[V any] struct {
	shards [cowShards]map[string]V
	owned  uint64 // bit i: shards[i] was made by this map, which may write it
	n      int
}

// cowShards is the number of shards; owned has a bit for each.
const cowShards = 64

func newCowMap[V any]() *cowMap[V] { return &cowMap[V]{} }

// shardOf is FNV-1a of k, folded to a shard: cheap next to the map's own
// hashing, and the same in every process, so tests see one layout.
func shardOf(k string) int {
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= 16777619
	}
	return int((h ^ h>>16) % cowShards)
}

// get returns k's value, the zero value when k is absent (or m is nil).
func (m *cowMap[V]) get(k string) V {
	v, _ := m.lookup(k)
	return v
}

func (m *cowMap[V]) lookup(k string) (V, bool) {
	if m == nil {
		var zero V
		return zero, false
	}
	v, ok := m.shards[shardOf(k)][k]
	return v, ok
}

// len is the number of keys.
func (m *cowMap[V]) len() int {
	if m == nil {
		return 0
	}
	return m.n
}

// shard returns k's shard, ready to be written: copied first unless m
// made it.
func (m *cowMap[V]) shard(k string) map[string]V {
	i := shardOf(k)
	if m.owned&(1<<i) == 0 {
		s := maps.Clone(m.shards[i])
		if s == nil {
			s = map[string]V{}
		}
		m.shards[i], m.owned = s, m.owned|1<<i
	}
	return m.shards[i]
}

// set writes k's value.
func (m *cowMap[V]) set(k string, v V) {
	s := m.shard(k)
	if _, ok := s[k]; !ok {
		m.n++
	}
	s[k] = v
}

// del removes k.
func (m *cowMap[V]) del(k string) {
	if _, ok := m.lookup(k); !ok {
		return
	}
	delete(m.shard(k), k)
	m.n--
}

// clone returns a map with m's entries that shares m's shards until it
// writes them.
func (m *cowMap[V]) clone() *cowMap[V] {
	if m == nil {
		return newCowMap[V]()
	}
	c := *m
	c.owned = 0
	return &c
}

// all yields every entry, in no particular order.
func (m *cowMap[V]) all() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		if m == nil {
			return
		}
		for _, s := range m.shards {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}
