package model

import "iter"

// revMap is a snapshot's dependency keys and their revisions: a base map
// shared with the snapshots it was derived from and the changes since on
// top, so deriving a snapshot does not copy the revision of every key of
// the mesh (at 10,000 services, copying them was most of an edit's work
// in the model). A snapshot under construction by Build writes the base
// directly.
//
// Every entry holds its key as well (the string the map is keyed by, so
// no copy): a tracked View records a key it finds as that string rather
// than a copy of the one it built, so the dependencies of every unit that
// read a key share one string.
type revMap struct {
	base  map[string]keyRev
	delta map[string]revChange // nil outside derived snapshots
	n     int                  // keys held
}

// keyRev is a key and its revision.
type keyRev struct {
	key string
	rev Revision
}

// revChange is a key's revision since the base, or its removal.
type revChange struct {
	keyRev
	gone bool
}

func newRevMap() revMap { return revMap{base: map[string]keyRev{}} }

func (m *revMap) get(k string) (Revision, bool) {
	if c, ok := m.delta[k]; ok {
		return c.rev, !c.gone
	}
	e, ok := m.base[k]
	return e.rev, ok
}

func (m *revMap) at(k string) Revision {
	r, _ := m.get(k)
	return r
}

// entryBytes looks up a key being built in a buffer without making it a
// string: the map's own string of the key and its revision, or ok false
// (and revision "") when the key is not there.
func (m *revMap) entryBytes(k []byte) (key string, rev Revision, ok bool) {
	if c, ok := m.delta[string(k)]; ok {
		if c.gone {
			return "", "", false
		}
		return c.key, c.rev, true
	}
	e, ok := m.base[string(k)]
	return e.key, e.rev, ok
}

func (m *revMap) set(k string, r Revision) {
	if m.delta == nil {
		if _, ok := m.base[k]; !ok {
			m.n++
		}
		m.base[k] = keyRev{k, r}
		return
	}
	if _, ok := m.get(k); !ok {
		m.n++
	}
	m.delta[k] = revChange{keyRev: keyRev{k, r}}
}

// del removes k and reports whether it was there.
func (m *revMap) del(k string) bool {
	if _, ok := m.get(k); !ok {
		return false
	}
	m.n--
	if m.delta == nil {
		delete(m.base, k)
		return true
	}
	if _, inBase := m.base[k]; inBase {
		m.delta[k] = revChange{gone: true}
	} else {
		delete(m.delta, k)
	}
	return true
}

func (m *revMap) len() int { return m.n }

// all yields every key and its revision, in no order.
func (m *revMap) all() iter.Seq2[string, Revision] {
	return func(yield func(string, Revision) bool) {
		for k, e := range m.base {
			if _, changed := m.delta[k]; changed {
				continue
			}
			if !yield(k, e.rev) {
				return
			}
		}
		for k, c := range m.delta {
			if !c.gone && !yield(k, c.rev) {
				return
			}
		}
	}
}

// fork returns a map for a snapshot derived from this one's: the same
// base, a copy of the changes, which the derived snapshot writes.
func (m *revMap) fork() revMap {
	delta := make(map[string]revChange, len(m.delta)+16)
	for k, c := range m.delta {
		delta[k] = c
	}
	return revMap{base: m.base, delta: delta, n: m.n}
}

// settle copies the base with the changes applied once they are an
// eighth of it, so lookups and forks stay cheap; the copy is shared from
// then on.
func (m *revMap) settle() {
	if len(m.delta)*8 <= len(m.base) {
		return
	}
	base := make(map[string]keyRev, m.n)
	for k, r := range m.all() {
		base[k] = keyRev{k, r}
	}
	m.base, m.delta = base, map[string]revChange{}
}
