package translate

import (
	"sort"
	"strings"
	"sync"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// unitCache is the one place units are built or reused in a translation:
// the sidecar units the translator plans and the chains ProxyBuilders ask
// for through ProxyContext.L7 go through get, so a unit is built at most
// once per translation and the next translation sees every unit this one
// used (prev), whichever path asked for it.
//
// A previous unit's recorded reads are checked against the snapshot only
// when they can have changed: when one of its keys is in the change set
// from the previous translation's snapshot (found through the Translator's
// inverted index), when it was never checked against that snapshot (a unit
// kept for a stale proxy), or when there is no change set.
type unitCache struct {
	t         *Translator
	snap      *model.Snapshot
	prev      map[string]*unit // the previous translation's units, read-only until commit
	stats     *Stats
	changes   changeSet
	touched   map[string]bool // units of prev that read a changed key
	unchecked map[string]bool // units of prev never checked against its snapshot

	// plan is the sidecar and istiod-waypoint units snap needs. When it is
	// the previous translation's (kept: nothing it read changed), kept is
	// set and a planned unit that needs no check is the previous one,
	// taken without a look: cur holds only the units looked at, and a
	// translation costs the change, not the mesh (keptPlanned).
	plan *unitPlan
	kept bool

	mu        sync.Mutex
	cur       map[string]*unit // this translation's units
	uncertain map[string]bool  // units of cur not checked against snap
}

// ch is the change set from t.unitsSnap to snap.
func newUnitCache(t *Translator, snap *model.Snapshot, stats *Stats, ch changeSet) *unitCache {
	c := &unitCache{t: t, snap: snap, prev: t.units, stats: stats, changes: ch, touched: t.unitIndex.touched(ch), unchecked: t.uncheckedUnits,
		uncertain: map[string]bool{}}
	if t.plan.holds(ch) {
		c.plan, c.kept = t.plan, true
		c.cur = map[string]*unit{}
	} else {
		c.plan = newUnitPlan(t.opts.Registry, t.opts.Targets, snap)
		c.cur = make(map[string]*unit, max(len(t.units), len(c.plan.keys)))
	}
	return c
}

// work is the planned units to get: every one, or with a kept plan only
// those whose record must be read (the others are keptPlanned).
func (c *unitCache) work() []unitKey {
	if !c.kept {
		return c.plan.keys
	}
	var idx []int
	add := func(holders map[string]bool) {
		for k := range holders {
			if i, ok := c.plan.index[k]; ok {
				idx = append(idx, i)
			}
		}
	}
	add(c.touched)
	for k := range c.unchecked {
		if i, ok := c.plan.index[k]; ok && !c.touched[k] {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	out := make([]unitKey, len(idx))
	for j, i := range idx {
		out[j] = c.plan.keys[i]
	}
	return out
}

// keptPlanned says whether the unit under key is a planned unit of a kept
// plan that needs no check: the previous translation's, unchanged.
func (c *unitCache) keptPlanned(key string) bool {
	if !c.kept {
		return false
	}
	if _, ok := c.plan.index[key]; !ok {
		return false
	}
	return c.prev[key] != nil && !mustCheck(c.changes, c.touched, c.unchecked, key)
}

// get returns the unit for k: this translation's if it was already asked
// for, else the previous translation's when its plugin, build and inputs
// are unchanged, else a fresh build (which keeps the previous one's
// output, stale, if the plugin fails).
func (c *unitCache) get(k unitKey) *unit {
	if c.keptPlanned(k.key) {
		if p := c.prev[k.key]; p.Plugin == k.plugin.Name() && p.Profile == k.profile && p.ServedBy == k.servedBy {
			return p // counted in finish
		}
	}
	c.mu.Lock()
	if u, ok := c.cur[k.key]; ok {
		c.mu.Unlock()
		return u
	}
	c.mu.Unlock()
	prev := c.prev[k.key]
	u := prev
	valid, read := false, false
	if prev != nil && prev.Plugin == k.plugin.Name() && prev.Profile == k.profile && prev.ServedBy == k.servedBy {
		valid, read = stillValid(c.changes, c.touched, c.unchecked, k.key, prev.deps, c.snap)
	}
	if !valid {
		u = c.t.build(c.snap, k, prev)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if read {
		c.stats.RecordsChecked++
	}
	if existing, ok := c.cur[k.key]; ok {
		return existing // built concurrently by another proxy: keep one
	}
	c.cur[k.key] = u
	if u == prev {
		c.stats.UnitsReused++
	} else {
		c.stats.UnitsBuilt++
	}
	return u
}

// carry records units a reused proxy consumed as used by this translation
// too, so they (their last good output, their diagnostics) stay in the
// output and the cache for the next translation. checked says whether the
// proxy's reads, which include the units', were found unchanged in this
// snapshot; units carried for a stale proxy were not, and the next
// translation checks them whatever its change set.
func (c *unitCache) carry(units []*unit, checked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range units {
		if _, ok := c.cur[u.key]; !ok && !c.keptPlanned(u.key) {
			c.cur[u.key] = u
			c.stats.UnitsReused++
			if !checked {
				c.uncertain[u.key] = true
			}
		}
	}
}

// anyUncertain says whether one of units was not checked against snap.
func (c *unitCache) anyUncertain(units []*unit) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range units {
		if c.uncertain[u.key] {
			return true
		}
	}
	return false
}

// unitChanges is what a translation changed in the set of units: the
// units added, and the previous units dropped or replaced (a replaced
// unit is in both lists). Output.Units and the EnvoyFilters are patched
// with it instead of being listed, grouped and sorted again.
type unitChanges struct {
	added, removed []*Unit
}

// finish counts the kept plan's units taken without a look and returns
// what changed since the previous translation's units: with a kept plan
// only the units looked at can have, otherwise every unit is compared.
func (c *unitCache) finish() unitChanges {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.UnitsLookedAt, c.stats.Planned = len(c.cur), !c.kept
	var ch unitChanges
	diff := func(k string, u *unit) {
		if p := c.prev[k]; p != u {
			if p != nil {
				ch.removed = append(ch.removed, p.Unit)
			}
			ch.added = append(ch.added, u.Unit)
		}
	}
	if !c.kept {
		for k, u := range c.cur {
			diff(k, u)
		}
		for k, p := range c.prev {
			if _, ok := c.cur[k]; !ok {
				ch.removed = append(ch.removed, p.Unit)
			}
		}
		return ch
	}
	looked := 0
	for k, u := range c.cur {
		if _, ok := c.plan.index[k]; ok {
			looked++
		}
		diff(k, u)
	}
	c.stats.UnitsReused += len(c.plan.keys) - looked
	for k := range c.t.unplannedUnits {
		if _, ok := c.cur[k]; !ok {
			ch.removed = append(ch.removed, c.prev[k].Unit)
		}
	}
	return ch
}

// commit makes this translation's units the Translator's, keeping the
// inverted index of their reads in step: entries for units built again
// are replaced, those of units no longer used are dropped. It runs only
// for a translation that is kept (not cancelled). With a kept plan the
// previous map is updated in place for the units looked at.
func (c *unitCache) commit() {
	idx := c.t.unitIndex
	if len(idx) == 0 && len(c.cur) > 1024 {
		// A first translation: the index made at its size rather than
		// grown (and rehashed) a dozen times. Keys read by several units
		// make it about 3/5 of the reads.
		n := 0
		for _, u := range c.cur {
			n += u.deps.Len()
		}
		idx = make(depIndex, n*5/8)
		c.t.unitIndex = idx
	}
	for k, u := range c.cur {
		if p := c.prev[k]; p != u {
			if p != nil {
				idx.remove(k, p.deps, c.snap)
			}
			idx.add(k, u.deps, c.snap)
		}
	}
	unplanned := map[string]bool{}
	for k := range c.cur {
		if _, ok := c.plan.index[k]; !ok {
			unplanned[k] = true
		}
	}
	if c.kept {
		for k := range c.t.unplannedUnits {
			if _, ok := c.cur[k]; !ok {
				idx.remove(k, c.prev[k].deps, c.snap)
				delete(c.prev, k)
			}
		}
		for k, u := range c.cur {
			c.prev[k] = u
		}
	} else {
		for k, p := range c.prev {
			if _, ok := c.cur[k]; !ok {
				idx.remove(k, p.deps, c.snap)
			}
		}
		c.t.units = c.cur
	}
	c.t.unitsSnap, c.t.uncheckedUnits, c.t.plan, c.t.unplannedUnits = c.snap, c.uncertain, c.plan, unplanned
}

// unitPlan is the output of planUnits for a snapshot, with what planning
// read there (the service list, and with a waypoint istiod serves every
// service's binding): a later snapshot whose change set holds none of
// those keys needs the very same units.
type unitPlan struct {
	keys  []unitKey
	index map[string]int // unit key -> position in keys
	deps  model.DepSet
}

func newUnitPlan(reg *plugin.Registry, targets plugin.Targets, snap *model.Snapshot) *unitPlan {
	p := &unitPlan{keys: planUnits(reg, targets, snap)}
	// The reads of planUnits, recorded: it lists the services (their
	// ports, which the registry maps to plugins) and, when a waypoint is
	// istiod's, asks every service for its waypoint.
	deps := model.Deps{}
	view := snap.TrackedView(deps)
	services := view.Services()
	if hasIstiodWaypoint(view) {
		for _, svc := range services {
			istiodWaypointOf(view, svc)
		}
	}
	p.deps = deps.Seal()
	p.index = make(map[string]int, len(p.keys))
	for i, k := range p.keys {
		p.index[k.key] = i
	}
	return p
}

// holds says whether the plan is still the plan of a snapshot that
// differs from the one it was made for by ch.
func (p *unitPlan) holds(ch changeSet) bool {
	if p == nil || ch.full {
		return false
	}
	return !p.deps.ReadsAny(ch.keys) // ch.keys are sorted (model.Diff)
}

// keyFor is the cache key of every unit: UnitKey for sidecar roles;
// "waypoint/<ns>/<name>|<host>|<port>" for a waypoint's chain (each
// waypoint has its own); and "|<profile>" appended when the chain is built
// for another build than its role's own.
func keyFor(role plugin.Role, host string, port uint32, waypoint model.ObjectRef, p, roleProfile *profile.Profile) string {
	var key string
	if role == plugin.RoleWaypoint {
		key = WaypointUnitKey(waypoint, host, port)
	} else {
		key = UnitKey(role, host, port)
	}
	if p != roleProfile {
		key += "|" + p.Name
	}
	return key
}

// compareUnits orders units by key, as Output.Units lists them.
func compareUnits(a, b *Unit) int { return strings.Compare(a.Key, b.Key) }
