package translate

import (
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
	prev      map[string]*unit // the previous translation's units, read-only
	stats     *Stats
	changes   changeSet
	touched   map[string]bool // units of prev that read a changed key
	unchecked map[string]bool // units of prev never checked against its snapshot

	mu        sync.Mutex
	cur       map[string]*unit // this translation's units
	uncertain map[string]bool  // units of cur not checked against snap
}

// ch is the change set from t.unitsSnap to snap.
func newUnitCache(t *Translator, snap *model.Snapshot, stats *Stats, ch changeSet) *unitCache {
	return &unitCache{t: t, snap: snap, prev: t.units, stats: stats, changes: ch, touched: t.unitIndex.touched(ch), unchecked: t.uncheckedUnits,
		cur: make(map[string]*unit, len(t.units)), uncertain: map[string]bool{}}
}

// get returns the unit for k: this translation's if it was already asked
// for, else the previous translation's when its plugin, build and inputs
// are unchanged, else a fresh build (which keeps the previous one's
// output, stale, if the plugin fails).
func (c *unitCache) get(k unitKey) *unit {
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
		if _, ok := c.cur[u.key]; !ok {
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

// commit makes this translation's units the Translator's, keeping the
// inverted index of their reads in step: entries for units built again
// are replaced, those of units no longer used are dropped. It runs only
// for a translation that is kept (not cancelled).
func (c *unitCache) commit() {
	idx := c.t.unitIndex
	for k, u := range c.cur {
		if p := c.prev[k]; p != u {
			if p != nil {
				idx.remove(k, p.deps)
			}
			idx.add(k, u.deps)
		}
	}
	for k, p := range c.prev {
		if _, ok := c.cur[k]; !ok {
			idx.remove(k, p.deps)
		}
	}
	c.t.units, c.t.unitsSnap, c.t.uncheckedUnits = c.cur, c.snap, c.uncertain
}

// units returns this translation's units by key.
func (c *unitCache) units() map[string]*unit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
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
