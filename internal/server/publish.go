package server

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// publisher moves translations into the xDS caches. It is the only writer
// of the caches, and writes only what changed: an EnvoyFilter or a proxy
// whose revision is unchanged keeps its encoded form and its version, so
// its clients are not sent anything.
//
// Each listener reads one view: a pair of caches (proxies, MCP). A view
// that must not carry credentials (the plaintext listener, unless
// --insecure-plaintext-credentials) is served the same config without
// the EnvoyFilters and proxies that hold any (Redis passwords, inline
// keys); the objects they came from get a warning saying so.
//
// The proxy cache of a view holds only the proxies some client of that
// view is connected as (acquire/release): every built proxy stays in the
// publisher, but go-control-plane's per-node state exists only while a
// stream needs it and for a grace period after the last one closed, so
// clients that come and go, or make up node ids, leave nothing behind.
type publisher struct {
	log   logr.Logger
	views []*view
	grace time.Duration
	after func(time.Duration, func()) *time.Timer // time.AfterFunc; tests replace it

	mu         sync.Mutex
	ready      bool
	snapshot   *model.Snapshot
	efs        map[string]*mcpEntry       // by namespace/name
	efOrder    []*translate.EnvoyFilter   // current, as translated
	mcpVersion string                     // of the whole EnvoyFilter collection
	proxies    map[string]*publishedProxy // built proxies, by cache key

	// publishedAt has its own lock: stream callbacks read it while a
	// publish (holding mu) may be handing responses to those streams.
	atMu        sync.Mutex
	publishedAt map[string]time.Time // by cache key (mcpKey for MCP)
}

// view is what one listener serves.
type view struct {
	name        string // metrics and logs: "tls" or "plaintext"
	credentials bool   // may carry credentials
	envoy       cachev3.SnapshotCache
	mcp         *mcpCache

	// Cache keys envoy holds state for, with the number of streams using
	// each; a key at zero is dropped from envoy when its timer fires.
	refs   map[string]int
	timers map[string]*time.Timer
}

// publishedProxy is what a proxy is served.
type publishedProxy struct {
	key    string
	result *translate.ProxyResult
	snap   *proxySnapshot
	// secret is set when the proxy's config holds credentials.
	secret bool
}

func newPublisher(log logr.Logger, grace time.Duration, views ...*view) *publisher {
	for _, v := range views {
		v.refs, v.timers = map[string]int{}, map[string]*time.Timer{}
	}
	return &publisher{log: log, views: views, grace: grace, after: time.AfterFunc, efs: map[string]*mcpEntry{},
		proxies: map[string]*publishedProxy{}, publishedAt: map[string]time.Time{}}
}

// publishStats says what one publish changed.
type publishStats struct {
	EnvoyFiltersChanged int
	ProxiesChanged      int
	MCPVersion          string
}

var emptySnapshot, _, _ = newProxySnapshot(nil, nil, nil)

// publish makes out what clients are served. Problems found on the way
// (which are aeraki bugs, not user errors) come back as diagnostics, with
// the warnings about config kept off a view that must not carry
// credentials.
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
	if !p.ready || p.mcpVersion != coll.version {
		p.markPublished(mcpKey, now)
	}
	p.mcpVersion = coll.version
	p.efs, p.efOrder = entries, out.EnvoyFilters
	p.snapshot = out.Snapshot
	var withheld []*translate.EnvoyFilter
	for _, v := range p.views {
		if v.credentials {
			v.mcp.Publish(map[string]*mcpCollection{EnvoyFilterType: coll})
			continue
		}
		plain, left := withoutSecrets(coll, entries)
		withheld = left
		v.mcp.Publish(map[string]*mcpCollection{EnvoyFilterType: plain})
	}
	diags = append(diags, withheldDiagnostics(withheld)...)

	memo := versionMemo{}   // shared pieces' messages are encoded once
	secrets := secretMemo{} // and checked for credentials once
	seen := map[string]bool{}
	for _, res := range out.Proxies {
		key := proxyKey(res.Plugin, res.ID)
		seen[key] = true
		old := p.proxies[key]
		if old != nil && old.result.Revision == res.Revision && res.Revision != "" {
			old.result = res // same config; keep the snapshot and its versions
			continue
		}
		var prevSnap *proxySnapshot
		if old != nil {
			prevSnap = old.snap
		}
		snap, fresh, err := newProxySnapshot(res.Proxy, prevSnap, memo)
		if err != nil {
			diags = append(diags, model.Diagnostic{Severity: model.SeverityError, Reason: "PublishError", Plugin: res.Plugin,
				Message: fmt.Sprintf("proxy %s keeps its previous config: %v", res.ID, err)})
			continue
		}
		// Only what the proxy was not served before needs checking, unless
		// what it was served held credentials.
		secret := len(res.Proxy.Secrets) > 0
		if old != nil && old.secret {
			secret = proxyHasSecrets(res.Proxy)
		}
		for _, m := range fresh {
			secret = secret || secrets.has(m)
		}
		pp := &publishedProxy{key: key, result: res, snap: snap, secret: secret}
		p.proxies[key] = pp
		p.markPublished(key, now)
		p.install(key, pp)
		stats.ProxiesChanged++
	}
	for key := range p.proxies {
		if seen[key] {
			continue
		}
		// The proxy left the mesh (its Gateway was deleted, ...): a
		// connected replica is told it has nothing left, state-of-the-world.
		delete(p.proxies, key)
		p.atMu.Lock()
		delete(p.publishedAt, key)
		p.atMu.Unlock()
		p.install(key, nil)
		stats.ProxiesChanged++
	}
	for _, v := range p.views {
		if v.credentials {
			continue
		}
		for _, pp := range p.proxies {
			if pp.secret {
				diags = append(diags, model.Diagnostic{Severity: model.SeverityWarning, Reason: "CredentialsOverPlaintext", Plugin: pp.result.Plugin,
					Message: fmt.Sprintf("proxy %s is served empty on the plaintext address because its config holds credentials; connect it to the TLS address, or pass --insecure-plaintext-credentials", pp.result.ID)})
			}
		}
		break
	}
	if !p.ready {
		p.ready = true
		// Streams that arrived before the first generation now get their
		// config (or an empty one, when nothing was built for them).
		for _, v := range p.views {
			for key := range v.refs {
				p.installIn(v, key, p.proxies[key])
			}
		}
	}
	return stats, diags
}

// install sets a proxy's config in every view whose cache holds the key.
func (p *publisher) install(key string, pp *publishedProxy) {
	for _, v := range p.views {
		if _, ok := v.refs[key]; ok {
			p.installIn(v, key, pp)
		}
	}
}

func (p *publisher) installIn(v *view, key string, pp *publishedProxy) {
	snap := emptySnapshot
	if pp != nil && (v.credentials || !pp.secret) {
		snap = pp.snap
	}
	if err := v.envoy.SetSnapshot(context.Background(), key, snap); err != nil {
		p.log.Error(err, "cannot update the xDS cache", "proxy", key, "listener", v.name)
	}
}

// acquire records that a stream of v is the proxy under key, and gives
// the key its config in v's cache once the first generation is out: a
// built proxy's, else an empty one, so the client gets an answer (no
// resources) instead of waiting forever. It must run before the stream's
// first watch is created.
func (p *publisher) acquire(v *view, key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := v.timers[key]; t != nil {
		t.Stop()
		delete(v.timers, key)
	}
	n, held := v.refs[key]
	v.refs[key] = n + 1
	if !held && p.ready {
		p.installIn(v, key, p.proxies[key])
	}
}

// release undoes acquire. When no stream of v uses key any more, the
// key's cache entry is dropped after the grace period, unless a stream
// acquires it again first (a proxy reconnecting is not rebuilt).
func (p *publisher) release(v *view, key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v.refs[key] <= 0 {
		return
	}
	v.refs[key]--
	if v.refs[key] > 0 || v.timers[key] != nil {
		return
	}
	var t *time.Timer
	t = p.after(p.grace, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if v.timers[key] != t || v.refs[key] > 0 {
			return // acquired again meanwhile
		}
		delete(v.timers, key)
		delete(v.refs, key)
		v.envoy.ClearSnapshot(key)
	})
	v.timers[key] = t
}

// entries counts what the views' caches and the publisher hold, for tests
// and the stream-churn benchmark: cache keys with state, keys referenced
// by streams, timers pending, built proxies.
func (p *publisher) entries() (cacheKeys, refs, timers, proxies int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.views {
		cacheKeys += len(v.envoy.GetStatusKeys())
		refs += len(v.refs)
		timers += len(v.timers)
	}
	return cacheKeys, refs, timers, len(p.proxies)
}

// isReady reports whether the first generation has been published.
func (p *publisher) isReady() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// current returns the snapshot of the current generation (nil before the
// first), which authorization reads.
func (p *publisher) current() *model.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snapshot
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
		if pp.result.ID == id {
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
	out := make([]string, 0, len(p.proxies))
	for _, pp := range p.proxies {
		out = append(out, pp.result.ID)
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
	if !p.ready {
		return out, ""
	}
	return out, p.mcpVersion
}

// kindOf names the kind of proxy served under key, for metrics.
func (p *publisher) kindOf(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp := p.proxies[key]; pp != nil && pp.result.Kind != "" {
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

// proxyHasSecrets reports whether a proxy's config carries credentials:
// an inline secret Redact would hide, or any SDS secret.
// secretMemo is which messages hold credentials, for one publish.
type secretMemo map[proto.Message]bool

// has reports whether m (a listener or cluster) holds credentials.
func (s secretMemo) has(m proto.Message) bool {
	v, ok := s[m]
	if !ok {
		v = !proto.Equal(xds.Redact(m), m)
		s[m] = v
	}
	return v
}

func proxyHasSecrets(px *plugin.Proxy) bool {
	if px == nil {
		return false
	}
	if len(px.Secrets) > 0 {
		return true
	}
	for _, l := range px.Listeners {
		if !proto.Equal(xds.Redact(l), l) {
			return true
		}
	}
	for _, c := range px.Clusters {
		if !proto.Equal(xds.Redact(c), c) {
			return true
		}
	}
	return false
}

// withoutSecrets is coll without the EnvoyFilters that carry credentials,
// and those EnvoyFilters.
func withoutSecrets(coll *mcpCollection, entries map[string]*mcpEntry) (*mcpCollection, []*translate.EnvoyFilter) {
	var left []*translate.EnvoyFilter
	for _, e := range entries {
		if e.secret {
			left = append(left, e.ef)
		}
	}
	if len(left) == 0 {
		return coll, nil
	}
	out := &mcpCollection{resources: map[string]*anypb.Any{}, versions: map[string]string{}}
	for name, a := range coll.resources {
		if e := entries[name]; e != nil && e.secret {
			continue
		}
		out.resources[name], out.versions[name] = a, coll.versions[name]
	}
	out.seal()
	sort.Slice(left, func(i, j int) bool { return left[i].Ref().Key() < left[j].Ref().Key() })
	return out, left
}

// withheldDiagnostics warns on the objects an EnvoyFilter kept off the
// plaintext address was built from.
func withheldDiagnostics(efs []*translate.EnvoyFilter) []model.Diagnostic {
	var out []model.Diagnostic
	for _, ef := range efs {
		refs := ef.Sources
		if len(refs) == 0 {
			refs = []model.ObjectRef{ef.Ref()}
		}
		for _, ref := range refs {
			out = append(out, model.Diagnostic{Severity: model.SeverityWarning, Object: ref, Reason: "CredentialsOverPlaintext",
				Message: fmt.Sprintf("EnvoyFilter %s/%s holds credentials and is not served on the plaintext address: point istiod's configSources at the TLS address (15012), or pass --insecure-plaintext-credentials", ef.Namespace, ef.Name)})
		}
	}
	return out
}
