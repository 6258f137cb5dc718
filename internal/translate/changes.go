package translate

import (
	"slices"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// maxChangedFraction bounds the change sets the translator works from:
// when more than 1/maxChangedFraction of a snapshot's dependency keys
// changed (a cold start, a resync, a mesh-wide edit), looking up the
// holders of every changed key costs about as much as checking every
// recorded dependency, and the translator does the latter.
const maxChangedFraction = 4

// changeSet is what changed between the snapshot the previous translation
// built from and this one's: the dependency keys whose revision differs
// (model.Diff). A unit, proxy or MetaRouter verdict whose recorded reads
// include none of them is reused without reading its dependencies.
type changeSet struct {
	// full: no usable change set (no previous snapshot, other mesh
	// options, or too many changes); every recorded dependency is checked,
	// as before change sets.
	full bool
	keys []string
}

// changesBetween returns the change set from old to cur. old is the
// snapshot every cached record was checked against (nil: none).
//
// The options are compared because they are not dependency keys: a
// build reads them through View.Options untracked. Kinds and protocol
// claims come from the Translator's registry (plugin.Registry.Bind),
// which is fixed for its life; a kind the snapshot reads or stops reading
// shows as its objects' keys appearing or disappearing.
func changesBetween(old, cur *model.Snapshot) changeSet {
	if old == nil || !sameOptions(old.Options(), cur.Options()) {
		return changeSet{full: true}
	}
	if old == cur {
		return changeSet{}
	}
	keys := model.Diff(old, cur)
	if len(keys)*maxChangedFraction > cur.DependencyKeys() {
		return changeSet{full: true}
	}
	return changeSet{keys: keys}
}

func sameOptions(a, b model.Options) bool {
	return a.DomainSuffix == b.DomainSuffix && a.RootNamespace == b.RootNamespace && a.TrustDomain == b.TrustDomain &&
		a.RegexMaxProgramSize == b.RegexMaxProgramSize && a.WaypointClass == b.WaypointClass && len(a.Kinds) == len(b.Kinds)
}

// depIndex is the inverted index of recorded reads: dependency key ->
// the holders (unit keys, proxy keys, MetaRouter keys) whose record
// includes it. It may name a holder for a key the holder no longer reads
// (that costs one extra check, never a wrong reuse); it must name every
// holder for every key it reads, which is why it is updated only when
// the translation that changed the holders is kept.
type depIndex map[string]holderSet

// holderSet is the holders of one key: most keys are read by one record
// (at 10,000 services three keys in four have one holder), which the
// entry holds itself; the others are in more (a map per key was most of
// what indexing a cold start allocated, and a small entry keeps the
// index small): a short list, then past maxFewHolders a set.
type holderSet struct {
	one  string // the first holder; "" when none (or all are in more)
	more *moreHolders
}

type moreHolders struct {
	few  []string
	many map[string]struct{}
}

const maxFewHolders = 16

func (hs *holderSet) has(holder string) bool {
	if hs.one == holder {
		return true
	}
	if m := hs.more; m != nil {
		if m.many != nil {
			_, ok := m.many[holder]
			return ok
		}
		return slices.Contains(m.few, holder)
	}
	return false
}

func (hs *holderSet) empty() bool {
	return hs.one == "" && (hs.more == nil || len(hs.more.few) == 0 && len(hs.more.many) == 0)
}

// each calls f with every holder.
func (hs *holderSet) each(f func(string)) {
	if hs.one != "" {
		f(hs.one)
	}
	if m := hs.more; m != nil {
		for _, h := range m.few {
			f(h)
		}
		for h := range m.many {
			f(h)
		}
	}
}

// add indexes the keys of deps under holder, the index keyed by snap's
// strings of them (the snapshot the record was made from).
func (x depIndex) add(holder string, deps model.DepSet, snap *model.Snapshot) {
	deps.EachKey(snap, func(k string) {
		hs := x[k]
		switch {
		case hs.has(holder):
			return
		case hs.empty():
			hs.one = holder
		case hs.more == nil:
			hs.more = &moreHolders{few: []string{holder}}
		case hs.more.many != nil:
			hs.more.many[holder] = struct{}{}
			return // the entry is unchanged
		case len(hs.more.few)+1 < maxFewHolders:
			hs.more.few = append(hs.more.few, holder)
			return
		default:
			m := make(map[string]struct{}, 2*maxFewHolders)
			hs.each(func(h string) { m[h] = struct{}{} })
			m[holder] = struct{}{}
			hs.one, hs.more.few, hs.more.many = "", nil, m
		}
		x[k] = hs
	})
}

// remove takes holder off the keys of deps; snap is any snapshot (its
// strings spare copies of the keys it holds).
func (x depIndex) remove(holder string, deps model.DepSet, snap *model.Snapshot) {
	deps.EachKey(snap, func(k string) {
		hs, ok := x[k]
		if !ok {
			return
		}
		switch m := hs.more; {
		case hs.one == holder:
			hs.one = ""
		case m == nil:
			return
		case m.many != nil:
			delete(m.many, holder)
		default:
			i := slices.Index(m.few, holder)
			if i < 0 {
				return
			}
			last := len(m.few) - 1
			m.few[i] = m.few[last]
			m.few[last] = ""
			m.few = m.few[:last]
		}
		if hs.empty() {
			delete(x, k)
			return
		}
		x[k] = hs
	})
}

// touched returns the holders that read a key of ch, nil for a full change set.
func (x depIndex) touched(ch changeSet) map[string]bool {
	if ch.full {
		return nil
	}
	out := map[string]bool{}
	for _, k := range ch.keys {
		hs := x[k]
		hs.each(func(h string) { out[h] = true })
	}
	return out
}

// mustCheck says whether a holder's record has to be read against the
// new snapshot: always without a change set, else when it read a changed
// key or its record was never checked against the previous snapshot.
func mustCheck(ch changeSet, touched, unchecked map[string]bool, holder string) bool {
	return ch.full || touched[holder] || unchecked[holder]
}

// stillValid says whether a record that is otherwise reusable (same
// object revision, plugin and build) is unchanged in snap. It reads the
// record only when mustCheck says it must, and reports whether it did
// (Stats.RecordsChecked).
func stillValid(ch changeSet, touched, unchecked map[string]bool, holder string, deps model.DepSet, snap *model.Snapshot) (valid, read bool) {
	if !mustCheck(ch, touched, unchecked, holder) {
		return true, false
	}
	return !deps.Changed(snap), true
}

// patchSorted returns a new list: prev (sorted by cmp, keys unique)
// without the entries of removed and with those of added, still sorted.
// It copies prev once and compares only the changed entries (a binary
// search each), so patching the output of a translation costs the
// change, not a sort of the mesh.
func patchSorted[T comparable](prev, removed, added []T, cmp func(a, b T) int) []T {
	type op struct {
		at  int
		del bool
		v   T
	}
	ops := make([]op, 0, len(removed)+len(added))
	for _, r := range removed {
		if i, ok := slices.BinarySearchFunc(prev, r, cmp); ok && prev[i] == r {
			ops = append(ops, op{at: i, del: true})
		}
	}
	slices.SortFunc(added, cmp)
	for _, a := range added {
		i, _ := slices.BinarySearchFunc(prev, a, cmp)
		ops = append(ops, op{at: i, v: a})
	}
	// By position; at one position the additions in their order (the
	// stable sort keeps added's), a removal of the entry there after them.
	slices.SortStableFunc(ops, func(a, b op) int {
		if a.at != b.at {
			return a.at - b.at
		}
		if a.del != b.del {
			if a.del {
				return 1
			}
			return -1
		}
		return 0
	})
	out := make([]T, 0, len(prev)+len(added))
	last := 0
	for _, o := range ops {
		if o.at > last {
			out = append(out, prev[last:o.at]...)
			last = o.at
		}
		if o.del {
			last = o.at + 1
		} else {
			out = append(out, o.v)
		}
	}
	return append(out, prev[last:]...)
}
