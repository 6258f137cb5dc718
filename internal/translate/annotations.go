package translate

import (
	"encoding/binary"
	"slices"
	"strings"
)

// An EnvoyFilter's annotations are held in one string rather than a map:
// the entries sorted by key, each the uvarint length of the key, the key,
// the uvarint length of the value and the value. A map of strings per
// EnvoyFilter (20,000 at 10,000 services, each a group of eight slots)
// was memory the collector marked at every collection; the string's bytes
// it does not look into, and its values are parts of it, so reading one
// allocates nothing.

// appendAnnotation appends one entry; entries must be appended in the
// order of their keys.
func appendAnnotation[V string | []byte](b []byte, key string, value V) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// nextAnnotation splits the first entry off s.
func nextAnnotation(s string) (key, value, rest string) {
	n, w := uvarintString(s)
	key, s = s[w:w+n], s[w+n:]
	n, w = uvarintString(s)
	return key, s[w : w+n], s[w+n:]
}

func uvarintString(s string) (n, width int) {
	var v uint64
	for i := 0; ; i++ {
		c := s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int(v), i + 1
		}
	}
}

// Annotation returns the annotation under key, "" when there is none.
func (e *EnvoyFilter) Annotation(key string) string {
	for s := e.annotations; s != ""; {
		var k, v string
		k, v, s = nextAnnotation(s)
		if k == key {
			return v
		}
	}
	return ""
}

// EachAnnotation calls f with every annotation, in the order of the keys
// (the order the MCP resource and the revision take them in).
func (e *EnvoyFilter) EachAnnotation(f func(key, value string)) {
	for s := e.annotations; s != ""; {
		var k, v string
		k, v, s = nextAnnotation(s)
		f(k, v)
	}
}

// Annotations returns the annotations to put on the object as a new map
// (nil when there are none), for callers that want one.
func (e *EnvoyFilter) Annotations() map[string]string {
	if e.annotations == "" {
		return nil
	}
	m := map[string]string{}
	e.EachAnnotation(func(k, v string) { m[k] = v })
	return m
}

// SetAnnotation sets the annotation under key, for the assembly (a
// waypoint's EnvoyFilter names it) and for tools and tests that build an
// EnvoyFilter by hand; it must be called before the EnvoyFilter is sealed
// (its revision covers the annotations).
func (e *EnvoyFilter) SetAnnotation(key, value string) {
	type entry struct{ k, v string }
	var arr [8]entry
	entries := arr[:0]
	e.EachAnnotation(func(k, v string) {
		if k != key {
			entries = append(entries, entry{k, v})
		}
	})
	entries = append(entries, entry{key, value})
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
	var b []byte
	for _, en := range entries {
		b = appendAnnotation(b, en.k, en.v)
	}
	e.annotations = string(b)
}
