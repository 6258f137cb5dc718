package server

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/go-logr/logr"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// publisher moves translations into the xDS caches. It is the only writer
// of the caches, and writes only what changed: an EnvoyFilter or a proxy
// whose revision is unchanged keeps its encoded form and its version, so
// its clients are not sent anything.
type publisher struct {
	log   logr.Logger
	envoy cachev3.SnapshotCache
	mcp   *mcpCache

	mu      sync.Mutex
	ready   bool
	efs     map[string]*mcpEntry       // by namespace/name
	efOrder []*translate.EnvoyFilter   // current, as translated
	proxies map[string]*publishedProxy // by cache key

	// publishedAt has its own lock: stream callbacks read it while a
	// publish (holding mu) may be handing responses to those streams.
	atMu        sync.Mutex
	publishedAt map[string]time.Time // by cache key (mcpKey for MCP)
}

// publishedProxy is what a proxy is served.
type publishedProxy struct {
	key    string
	result *translate.ProxyResult // nil once the proxy left the mesh
	snap   *proxySnapshot
}

func newPublisher(log logr.Logger, envoy cachev3.SnapshotCache, mcp *mcpCache) *publisher {
	return &publisher{log: log, envoy: envoy, mcp: mcp, efs: map[string]*mcpEntry{},
		proxies: map[string]*publishedProxy{}, publishedAt: map[string]time.Time{}}
}

// publishStats says what one publish changed.
type publishStats struct {
	EnvoyFiltersChanged int
	ProxiesChanged      int
	MCPVersion          string
}

// publish makes out what clients are served. Problems found on the way
// (which are aeraki bugs, not user errors) come back as diagnostics.
func (p *publisher) publish(out *translate.Output) (publishStats, []model.Diagnostic) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var stats publishStats
	var diags []model.Diagnostic

	coll, entries, ds := envoyFilterCollection(out.EnvoyFilters, p.efs)
	diags = append(diags, ds...)
	for name, e := range entries {
		if old := p.efs[name]; old == nil || old != e {
			stats.EnvoyFiltersChanged++
		}
	}
	stats.EnvoyFiltersChanged += removedCount(p.efs, entries)
	stats.MCPVersion = coll.version
	if !p.ready || p.mcp.Version(EnvoyFilterType) != coll.version {
		p.markPublished(mcpKey, now)
	}
	p.efs, p.efOrder = entries, out.EnvoyFilters
	p.mcp.Publish(map[string]*mcpCollection{EnvoyFilterType: coll})

	seen := map[string]bool{}
	for _, res := range out.Proxies {
		key := proxyKey(res.Plugin, res.ID)
		seen[key] = true
		old := p.proxies[key]
		if old != nil && old.result != nil && old.result.Revision == res.Revision && res.Revision != "" {
			old.result = res // same config; keep the snapshot and its versions
			continue
		}
		snap, err := newProxySnapshot(res.Proxy)
		if err != nil {
			diags = append(diags, model.Diagnostic{Severity: model.SeverityError, Reason: "PublishError", Plugin: res.Plugin,
				Message: fmt.Sprintf("proxy %s keeps its previous config: %v", res.ID, err)})
			continue
		}
		p.set(key, &publishedProxy{key: key, result: res, snap: snap}, now)
		stats.ProxiesChanged++
	}
	for key, old := range p.proxies {
		if seen[key] || old.result == nil {
			continue
		}
		// The proxy left the mesh (its Gateway was deleted, ...): a
		// connected replica is told it has nothing left, state-of-the-world.
		empty, _ := newProxySnapshot(nil)
		p.set(key, &publishedProxy{key: key, snap: empty}, now)
		stats.ProxiesChanged++
	}
	if !p.ready {
		p.ready = true
		// Nodes that connected before the first generation and that no
		// proxy was built for are now told so.
		for _, key := range p.envoy.GetStatusKeys() {
			p.ensureLocked(key, now)
		}
	}
	return stats, diags
}

func (p *publisher) set(key string, pp *publishedProxy, now time.Time) {
	p.proxies[key] = pp
	p.markPublished(key, now)
	if err := p.envoy.SetSnapshot(context.Background(), key, pp.snap); err != nil {
		p.log.Error(err, "cannot update the xDS cache", "proxy", key)
	}
}

// ensure gives a node's cache key an empty config when nothing was built
// for it, once the first generation is out: a node that matched no plugin,
// or names a proxy that does not exist, gets an answer (no resources)
// instead of waiting forever.
func (p *publisher) ensure(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready {
		p.ensureLocked(key, time.Now())
	}
}

func (p *publisher) ensureLocked(key string, now time.Time) {
	if _, ok := p.proxies[key]; ok {
		return
	}
	empty, _ := newProxySnapshot(nil)
	p.set(key, &publishedProxy{key: key, snap: empty}, now)
}

// isReady reports whether the first generation has been published.
func (p *publisher) isReady() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

func (p *publisher) markPublished(key string, at time.Time) {
	p.atMu.Lock()
	p.publishedAt[key] = at
	p.atMu.Unlock()
}

// lastPublished is when the config under a cache key last changed.
func (p *publisher) lastPublished(key string) time.Time {
	p.atMu.Lock()
	defer p.atMu.Unlock()
	return p.publishedAt[key]
}

// proxy returns what is served under a cache key.
func (p *publisher) proxy(key string) *publishedProxy {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proxies[key]
}

// proxyByID finds a served proxy by its id (any plugin) or cache key.
func (p *publisher) proxyByID(id string) *publishedProxy {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp := p.proxies[id]; pp != nil {
		return pp
	}
	var keys []string
	for k, pp := range p.proxies {
		if pp.result != nil && pp.result.ID == id {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return p.proxies[keys[0]]
}

// proxyIDs lists the proxies currently built.
func (p *publisher) proxyIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, pp := range p.proxies {
		if pp.result != nil {
			out = append(out, pp.result.ID)
		}
	}
	sort.Strings(out)
	return out
}

// envoyFilters returns the EnvoyFilters served to istiod and the version
// of the collection.
func (p *publisher) envoyFilters() ([]*translate.EnvoyFilter, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*translate.EnvoyFilter, 0, len(p.efOrder))
	for _, ef := range p.efOrder {
		if e := p.efs[ef.Namespace+"/"+ef.Name]; e != nil {
			out = append(out, e.ef)
		}
	}
	return out, p.mcp.Version(EnvoyFilterType)
}

// kindOf names the kind of proxy served under key, for metrics.
func (p *publisher) kindOf(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp := p.proxies[key]; pp != nil && pp.result != nil && pp.result.Kind != "" {
		return string(pp.result.Kind)
	}
	return ""
}

func removedCount(prev, cur map[string]*mcpEntry) int {
	n := 0
	for name := range prev {
		if _, ok := cur[name]; !ok {
			n++
		}
	}
	return n
}
