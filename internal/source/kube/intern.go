package kube

import (
	"encoding/binary"
	"slices"
	"sync"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// Small maps are the costliest part of many cached objects: a map of one
// or two labels takes about 300 bytes, all of it memory the collector
// scans, and the same few maps come back object after object (the labels
// of a Deployment's pods, {version: v1} in the subsets of every
// DestinationRule, the attribute a MetaRouter's routes match on). The
// transform makes objects whose maps have the same content share one map.
// Nothing writes the maps of a cached object: the cache's objects are
// shared read-only with the snapshots, and the cache's Get and List copy
// what they return unless told not to (CacheReader in
// sigs.k8s.io/controller-runtime/pkg/cache/internal/cache_reader.go), so
// the status writer, which writes what it got, writes a copy.

// maxInterned bounds a mapTable: when it holds that many maps it starts
// again, so a stream of distinct maps cannot grow it without end.
const maxInterned = 4096

// maxInternedLen is the largest map a mapTable shares; larger ones are
// rarely repeated, and sorting their keys would cost more.
const maxInternedLen = 8

// mapTable hands out one map per content, for the maps of cached objects.
// It is safe for concurrent use (each informer transforms on its own
// goroutine).
type mapTable[V comparable] struct {
	mu   sync.Mutex
	maps map[string]map[string]V // by encoded content
	buf  []byte
	enc  func([]byte, V) []byte // appends a value's encoding
}

func newMapTable[V comparable](enc func([]byte, V) []byte) *mapTable[V] {
	return &mapTable[V]{maps: map[string]map[string]V{}, enc: enc}
}

// intern returns a map with m's content: the one handed out before for
// that content, or m itself.
func (t *mapTable[V]) intern(m map[string]V) map[string]V {
	if len(m) == 0 || len(m) > maxInternedLen {
		return m
	}
	var arr [maxInternedLen]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf[:0]
	for _, k := range keys {
		b = appendString(b, k)
		b = t.enc(b, m[k])
	}
	t.buf = b
	if c, ok := t.maps[string(b)]; ok {
		return c
	}
	if len(t.maps) >= maxInterned {
		clear(t.maps)
	}
	t.maps[string(b)] = m
	return m
}

// appendString appends s, prefixed with its length, so that no two
// sequences of strings encode alike.
func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendMatch(b []byte, m metaprotocolv1alpha1.StringMatch) []byte {
	return appendString(appendString(appendString(b, m.Exact), m.Prefix), m.Regex)
}

// interner shares the repeated maps of cached objects: every object's
// labels, DestinationRule subsets' labels and the attributes MetaRouter
// routes match.
type interner struct {
	labels  *mapTable[string]
	matches *mapTable[metaprotocolv1alpha1.StringMatch]
}

func newInterner() *interner {
	return &interner{labels: newMapTable(appendString), matches: newMapTable(appendMatch)}
}

// intern replaces obj's maps with shared ones of the same content.
func (in *interner) intern(obj runtime.Object) {
	if a, err := meta.Accessor(obj); err == nil {
		if l := a.GetLabels(); len(l) > 0 {
			a.SetLabels(in.labels.intern(l))
		}
	}
	switch o := obj.(type) {
	case *networkingv1.DestinationRule:
		for _, s := range o.Spec.Subsets {
			if s != nil {
				s.Labels = in.labels.intern(s.Labels)
			}
		}
	case *metaprotocolv1alpha1.MetaRouter:
		for i := range o.Spec.Routes {
			if m := o.Spec.Routes[i].Match; m != nil {
				m.Attributes = in.matches.intern(m.Attributes)
			}
		}
	}
}
