package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"

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
	efs        map[string]*mcpEntry        // by namespace/name
	efOrder    []*translate.EnvoyFilter    // current, as translated
	efDigest   setDigest                   // of efs: the whole collection's version
	efSecret   map[string]bool             // names of the entries that carry credentials
	efFailed   map[string]model.Diagnostic // EnvoyFilters that could not be encoded, by name
	mcpVersion string                      // of the whole EnvoyFilter collection
	proxies    map[string]*publishedProxy  // built proxies, by cache key

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
	return &publisher{log: log, views: views, grace: grace, after: time.AfterFunc, efs: map[string]*mcpEntry{}, efSecret: map[string]bool{}, efFailed: map[string]model.Diagnostic{},
		proxies: map[string]*publishedProxy{}, publishedAt: map[string]time.Time{}}
}

// publishStats says what one publish changed.
type publishStats struct {
	EnvoyFiltersChanged int
	// EnvoyFiltersLookedUp counts the EnvoyFilters looked up by name: the
	// ones the translator did not hand over unchanged (the very same
	// object as last time), added or removed.
	EnvoyFiltersLookedUp int
	ProxiesChanged       int
	MCPVersion           string
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

	puts, removes, lookedUp := p.updateEnvoyFilters(out.EnvoyFilters)
	stats.EnvoyFiltersLookedUp = lookedUp
	diags = append(diags, p.encodeFailures()...)
	stats.EnvoyFiltersChanged = len(puts) + len(removes)
	version := p.efDigest.version()
	stats.MCPVersion = version
	if !p.ready || p.mcpVersion != version {
		p.markPublished(mcpKey, now)
	}
	p.mcpVersion = version
	p.efOrder = out.EnvoyFilters
	p.snapshot = out.Snapshot
	var withheld []*translate.EnvoyFilter
	for _, v := range p.views {
		updates := make([]mcpUpdate, 0, len(puts))
		gone := removes
		for _, e := range puts {
			if e.secret && !v.credentials {
				gone = append(gone, e.name) // became secret: no longer served here
				continue
			}
			updates = append(updates, mcpUpdate{name: e.name, version: string(e.ef.Revision), res: &e.res})
		}
		v.mcp.Apply(EnvoyFilterType, updates, gone)
		if !v.credentials {
			withheld = p.secretEnvoyFilters()
		}
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
		if e := p.efs[ef.Key()]; e != nil {
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

// updateEnvoyFilters brings the MCP entries in line with efs (sorted by
// namespace and name, as translated) and returns the entries put and the
// names removed. It walks efs beside the list published last: the
// translator hands over the very same EnvoyFilter for one it did not
// assemble again, so an unchanged entry costs a pointer comparison, and
// only the changed ones are looked up, encoded and hashed.
func (p *publisher) updateEnvoyFilters(efs []*translate.EnvoyFilter) (puts []*mcpEntry, removes []string, lookedUp int) {
	prev := p.efOrder
	i, j := 0, 0
	for i < len(prev) || j < len(efs) {
		if i < len(prev) && j < len(efs) && prev[i] == efs[j] {
			i, j = i+1, j+1
			continue
		}
		lookedUp++
		var c int
		switch {
		case i == len(prev):
			c = 1
		case j == len(efs):
			c = -1
		default:
			c = compareEnvoyFilters(prev[i], efs[j])
		}
		if c < 0 {
			// prev[i] is gone; unless efs holds it further on (out of
			// order: then it is put again below).
			if name := prev[i].Key(); p.drop(name) {
				removes = append(removes, name)
			}
			i++
			continue
		}
		if e := p.put(efs[j]); e != nil {
			puts = append(puts, e)
		}
		if c == 0 {
			i++
		}
		j++
	}
	// Names put and removed in one walk (efs not sorted as promised):
	// the entry stays.
	if len(puts) > 0 && len(removes) > 0 {
		kept := removes[:0]
		for _, n := range removes {
			if p.efs[n] == nil {
				kept = append(kept, n)
			}
		}
		removes = kept
	}
	return puts, removes, lookedUp
}

// put makes ef the entry under its name and returns the new entry, or nil
// when what istiod is sent does not change: the revision is the entry's,
// or ef cannot be encoded (the last good encoding stays, if any; the
// failure is reported on every publish while it lasts).
func (p *publisher) put(ef *translate.EnvoyFilter) *mcpEntry {
	name := ef.Key()
	old := p.efs[name]
	if old != nil && old.ef.Revision == ef.Revision {
		delete(p.efFailed, name)
		return nil
	}
	e := &mcpEntry{name: name, ef: ef, secret: ef.Secret}
	if err := setMCPResource(&e.res, ef); err != nil {
		p.efFailed[name] = model.Diagnostic{Severity: model.SeverityError, Object: ef.Ref(), Reason: "EncodeError",
			Message: fmt.Sprintf("not sent to istiod: %v; this is a bug in aeraki, please report it", err)}
		return nil
	}
	delete(p.efFailed, name)
	if old != nil {
		p.efDigest.remove(name, string(old.ef.Revision))
	}
	p.efs[name] = e
	p.efDigest.add(name, string(ef.Revision))
	if e.secret {
		p.efSecret[name] = true
	} else {
		delete(p.efSecret, name)
	}
	return e
}

// drop removes the entry under name and reports whether there was one.
func (p *publisher) drop(name string) bool {
	delete(p.efFailed, name)
	old := p.efs[name]
	if old == nil {
		return false
	}
	p.efDigest.remove(name, string(old.ef.Revision))
	delete(p.efs, name)
	delete(p.efSecret, name)
	return true
}

// encodeFailures are the errors of the EnvoyFilters that could not be
// encoded, by name.
func (p *publisher) encodeFailures() []model.Diagnostic {
	if len(p.efFailed) == 0 {
		return nil
	}
	var out []model.Diagnostic
	for _, n := range slices.Sorted(maps.Keys(p.efFailed)) {
		out = append(out, p.efFailed[n])
	}
	return out
}

// secretEnvoyFilters are the EnvoyFilters served that carry credentials,
// sorted, for the warnings of a view that must not carry them.
func (p *publisher) secretEnvoyFilters() []*translate.EnvoyFilter {
	var out []*translate.EnvoyFilter
	for n := range p.efSecret {
		out = append(out, p.efs[n].ef)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref().Key() < out[j].Ref().Key() })
	return out
}

// compareEnvoyFilters orders EnvoyFilters as the translator lists them:
// by namespace, then name.
func compareEnvoyFilters(a, b *translate.EnvoyFilter) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
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
