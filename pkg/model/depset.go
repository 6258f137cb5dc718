package model

import (
	"encoding/binary"
	"slices"
)

// DepSet is a Deps sealed for keeping: the record a translator holds for
// every unit, proxy and verdict between translations. A Deps is a map of
// strings, which the garbage collector marks at every collection (the
// maps of 20,000 units were a tenth of a running server's pointer-holding
// heap); a DepSet is one slice of bytes, which it does not look into:
// the keys sorted, each followed by its revision, a hex digest
// (RevisionOf) stored as the 8 bytes it spells. Its zero value is the
// empty set.
//
// Layout: uvarint(count), then per key uvarint(length), the key, and the
// revision: a tag (revEmpty, revHex, revRaw) followed by nothing, 8
// bytes, or uvarint(length) and the bytes.
type DepSet struct{ b []byte }

// Revision tags of a DepSet entry.
const (
	revEmpty = 0 // "": the key was read and nothing was there
	revHex   = 1 // 16 lowercase hex digits, stored as the 8 bytes they spell
	revRaw   = 2 // anything else, as it is
)

// Seal returns d as a DepSet; d is left as it is.
func (d Deps) Seal() DepSet {
	if len(d) == 0 {
		return DepSet{}
	}
	var arr [16]string
	keys := arr[:0]
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf [1024]byte // encoded here, then copied into a slice of its size
	b := binary.AppendUvarint(buf[:0], uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = appendRevision(b, d[k])
	}
	return DepSet{append(make([]byte, 0, len(b)), b...)}
}

func appendRevision(b []byte, r Revision) []byte {
	if r == "" {
		return append(b, revEmpty)
	}
	if h, ok := hexRevision(r); ok {
		return binary.BigEndian.AppendUint64(append(b, revHex), h)
	}
	b = binary.AppendUvarint(append(b, revRaw), uint64(len(r)))
	return append(b, r...)
}

// hexRevision is r as the number its 16 lowercase hex digits spell, ok
// false when r is not that (only those are stored as numbers, so that
// the revision a DepSet gives back is the very one recorded).
func hexRevision(r Revision) (uint64, bool) {
	if len(r) != 16 {
		return 0, false
	}
	var h uint64
	for i := 0; i < 16; i++ {
		c := r[i]
		switch {
		case '0' <= c && c <= '9':
			h = h<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			h = h<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return h, true
}

// depCursor walks a DepSet's entries: key and the revision are parts of
// the set's bytes.
type depCursor struct {
	b    []byte
	left int
	key  []byte
	tag  byte
	hex  uint64
	raw  []byte
}

func (d DepSet) cursor() depCursor {
	c := depCursor{b: d.b}
	if len(d.b) > 0 {
		c.left = int(c.uvarint())
	}
	return c
}

func (c *depCursor) uvarint() uint64 {
	v, n := binary.Uvarint(c.b)
	c.b = c.b[n:]
	return v
}

// next moves to the next entry, false after the last.
func (c *depCursor) next() bool {
	if c.left == 0 {
		return false
	}
	c.left--
	n := int(c.uvarint())
	c.key, c.b = c.b[:n], c.b[n:]
	c.tag, c.b = c.b[0], c.b[1:]
	switch c.tag {
	case revHex:
		c.hex, c.b = binary.BigEndian.Uint64(c.b), c.b[8:]
	case revRaw:
		n := int(c.uvarint())
		c.raw, c.b = c.b[:n], c.b[n:]
	}
	return true
}

// is reports whether the current entry's revision is r.
func (c *depCursor) is(r Revision) bool {
	switch c.tag {
	case revEmpty:
		return r == ""
	case revHex:
		h, ok := hexRevision(r)
		return ok && h == c.hex
	default:
		return string(r) == string(c.raw)
	}
}

// revision appends the current entry's revision, as recorded, to b.
func (c *depCursor) revision(b []byte) []byte {
	switch c.tag {
	case revEmpty:
		return b
	case revHex:
		const digits = "0123456789abcdef"
		for shift := 60; shift >= 0; shift -= 4 {
			b = append(b, digits[c.hex>>uint(shift)&0xf])
		}
		return b
	default:
		return append(b, c.raw...)
	}
}

// Len returns how many keys d holds.
func (d DepSet) Len() int {
	c := d.cursor()
	return c.left
}

// Changed reports whether any key in d has another revision in snap.
func (d DepSet) Changed(snap *Snapshot) bool {
	c := d.cursor()
	for c.next() {
		if _, rev, _ := snap.revs.entryBytes(c.key); !c.is(rev) {
			return true
		}
	}
	return false
}

// ReadsAny reports whether d holds one of keys, which are sorted (as
// Diff returns them).
func (d DepSet) ReadsAny(keys []string) bool {
	c := d.cursor()
	i := 0
	for i < len(keys) && c.next() {
		for i < len(keys) && keys[i] < string(c.key) {
			i++
		}
		if i < len(keys) && keys[i] == string(c.key) {
			return true
		}
	}
	return false
}

// EachKey calls f with every key of d, in order, as snap's own string of
// it where snap holds it (an index keyed by them then shares the
// snapshot's strings rather than holding copies); snap may be nil.
func (d DepSet) EachKey(snap *Snapshot, f func(key string)) {
	c := d.cursor()
	for c.next() {
		f(snap.depKeyString(c.key))
	}
}

// Each calls f with every key of d and its revision, in the order of the
// keys, as bytes valid only during the call.
func (d DepSet) Each(f func(key, rev []byte)) {
	var rev [32]byte
	c := d.cursor()
	for c.next() {
		f(c.key, c.revision(rev[:0]))
	}
}

// AddTo records every key of d, with the revision d holds, into deps,
// as a tracked View of snap would: what a build that consumed another's
// output (a proxy, its units' chains) depends on.
func (d DepSet) AddTo(deps Deps, snap *Snapshot) {
	c := d.cursor()
	for c.next() {
		key, cur := snap.depKeyRevision(c.key)
		if c.is(cur) {
			deps[key] = cur
			continue
		}
		var rev [32]byte
		deps[key] = Revision(c.revision(rev[:0]))
	}
}

// Deps returns d as a map, for tests and debugging output.
func (d DepSet) Deps() Deps {
	out := Deps{}
	d.Each(func(k, r []byte) { out[string(k)] = Revision(r) })
	return out
}

// depKeyRevision is the dependency key k as a string, the snapshot's own
// when it holds the key (and its revision, "" when it does not): what a
// tracked View records. Namespace keys of routing kinds that find nothing
// are interned too (unset), so the records of every view that reads one
// share a string.
func (s *Snapshot) depKeyRevision(k []byte) (string, Revision) {
	if s == nil {
		return string(k), ""
	}
	key, rev, found := s.revs.entryBytes(k)
	if !found {
		key = s.unset.intern(k)
	}
	return key, rev
}

func (s *Snapshot) depKeyString(k []byte) string {
	key, _ := s.depKeyRevision(k)
	return key
}
