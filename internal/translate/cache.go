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
type unitCache struct {
	t     *Translator
	snap  *model.Snapshot
	prev  map[string]*unit // the previous translation's units, read-only
	stats *Stats

	mu  sync.Mutex
	cur map[string]*unit // this translation's units
}

func newUnitCache(t *Translator, snap *model.Snapshot, stats *Stats) *unitCache {
	return &unitCache{t: t, snap: snap, prev: t.units, stats: stats, cur: map[string]*unit{}}
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
	if prev == nil || prev.Plugin != k.plugin.Name() || prev.Profile != k.profile || prev.ServedBy != k.servedBy || prev.deps.Changed(c.snap) {
		u = c.t.build(c.snap, k, prev)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
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
// output and the cache for the next translation.
func (c *unitCache) carry(units []*unit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range units {
		if _, ok := c.cur[u.key]; !ok {
			c.cur[u.key] = u
			c.stats.UnitsReused++
		}
	}
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
