package translate

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// piece is one shared piece (plugin.SharedPiece) of a translation, with
// what it was built from.
type piece struct {
	*plugin.SharedPiece // nil when the build failed

	key      string
	plugin   string
	build    plugin.SharedBuild // kept to rebuild it in a later translation
	deps     model.DepSet       // the snapshot keys it read
	reads    map[string]model.Revision
	err      error
	diags    []model.Diagnostic // its own findings (not those of the pieces it read)
	diagsRev model.Revision     // hash of its findings (and error)
	resRev   model.Revision     // hash of its resources
	grpc     []grpcCall         // the gRPC clusters its listeners' filters call

	mu       sync.Mutex
	fidelity map[*profile.Profile]*pieceFidelity // checked once per build a proxy of it runs
}

// pieceFidelity is a piece's resources checked against one build.
type pieceFidelity struct {
	warnings []model.Diagnostic
	err      error
}

// grpcCall is a gRPC cluster a listener's filter calls.
type grpcCall struct {
	listener, chain, filter, cluster string
}

// pieceCache holds the pieces of one translation. A piece is built at
// most once per translation, and taken from the previous translation
// when neither its snapshot reads nor the Revisions of the pieces it read
// changed. Builds are serialized (pieces are few and read the whole
// mesh; the proxies that need one wait for it); a build asking for
// another piece builds it in the same goroutine.
type pieceCache struct {
	t     *Translator
	snap  *model.Snapshot
	prev  map[string]*piece // the previous translation's, read-only
	stats *Stats

	buildMu sync.Mutex // held by the goroutine building pieces
	mu      sync.Mutex
	cur     map[string]*piece
}

func newPieceCache(t *Translator, snap *model.Snapshot, stats *Stats) *pieceCache {
	return &pieceCache{t: t, snap: snap, prev: t.pieces, stats: stats, cur: map[string]*piece{}}
}

// pieceSource is the plugin.SharedSource of one build: a proxy's (path
// empty) or a piece's (path: the pieces being built, innermost last).
type pieceSource struct {
	c      *pieceCache
	plugin string
	path   []string
}

// Piece implements plugin.SharedSource. Findings are not returned: the
// translator hands every piece's findings to the proxies that use it
// (directly or through other pieces) itself, for reused proxies too.
func (s *pieceSource) Piece(key string, build plugin.SharedBuild) (*plugin.SharedPiece, []model.Diagnostic, error) {
	p := s.c.get(s.plugin, key, build, s.path)
	if p.err != nil {
		return nil, nil, p.err
	}
	return p.SharedPiece, nil, nil
}

// get returns the current piece under key, reusing or building it.
func (c *pieceCache) get(pluginName, key string, build plugin.SharedBuild, path []string) *piece {
	if p := c.current(key); p != nil {
		return p
	}
	if slices.Contains(path, key) {
		return &piece{key: key, plugin: pluginName, err: fmt.Errorf("shared piece %q reads itself (through %v); a piece must not depend on itself", key, path)}
	}
	if len(path) == 0 {
		c.buildMu.Lock()
		defer c.buildMu.Unlock()
		if p := c.current(key); p != nil {
			return p // built by another proxy while this one waited
		}
	}
	prev := c.prev[key]
	inner := append(slices.Clip(path), key)
	var p *piece
	if prev != nil && prev.plugin == pluginName && !c.changed(prev, inner) {
		p = prev
		c.stats.SharedReused++
	} else {
		if build == nil && prev != nil {
			build = prev.build
		}
		p = c.buildPiece(pluginName, key, build, inner)
		c.stats.SharedBuilt++
	}
	c.mu.Lock()
	c.cur[key] = p
	c.mu.Unlock()
	return p
}

func (c *pieceCache) current(key string) *piece {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur[key]
}

// changed reports whether a previous translation's piece must be built
// again: a snapshot key it read, or the Revision of a piece it read, is
// different now. The pieces it read are brought up to date on the way.
func (c *pieceCache) changed(prev *piece, path []string) bool {
	if prev.deps.Changed(c.snap) {
		return true
	}
	return c.readsChanged(prev.plugin, prev.reads, path)
}

// readsChanged brings the pieces a build read up to date and reports
// whether any now has another Revision (or fails).
func (c *pieceCache) readsChanged(pluginName string, reads map[string]model.Revision, path []string) bool {
	for _, k := range sortedKeysOf(reads) {
		var build plugin.SharedBuild
		if pp := c.prev[k]; pp != nil {
			build = pp.build
		}
		if build == nil {
			return true
		}
		p := c.get(pluginName, k, build, path)
		if p.err != nil || p.Revision != reads[k] {
			return true
		}
	}
	return false
}

// buildPiece runs a piece's build with its own tracked view and checks
// its resources.
func (c *pieceCache) buildPiece(pluginName, key string, build plugin.SharedBuild, path []string) *piece {
	p := &piece{key: key, plugin: pluginName, build: build, reads: map[string]model.Revision{}}
	if build == nil {
		p.err = fmt.Errorf("shared piece %q has no build", key)
		return p
	}
	deps := model.Deps{}
	ctx := plugin.NewSharedContext(pluginName, c.snap.TrackedView(deps), &pieceSource{c: c, plugin: pluginName, path: path})
	sp, err := runShared(build, ctx)
	p.deps = deps.Seal()
	p.reads, p.diags = ctx.SharedReads(), ctx.Reports()
	if err == nil {
		err = gatePiece(sp, c.t.reach)
	}
	if err != nil {
		p.err = err // the contexts asking for it name the piece
		c.t.opts.Log.Error(err, "shared piece build failed", "plugin", pluginName, "piece", key)
		p.diagsRev = model.RevisionOf([]any{p.diags, p.err.Error()})
		return p
	}
	p.SharedPiece = sp
	if sp.Revision == "" {
		sp.Revision = readsRevision(p.deps, p.reads)
	}
	p.resRev = resourcesRevision(sp)
	p.grpc = grpcCalls(sp.Listeners)
	p.diagsRev = model.RevisionOf(p.diags)
	return p
}

func runShared(build plugin.SharedBuild, ctx *plugin.SharedContext) (p *plugin.SharedPiece, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugin panicked: %v", r)
		}
	}()
	p, err = build(ctx)
	if err == nil && p == nil {
		err = errors.New("plugin returned no piece")
	}
	return p, err
}

// gatePiece validates every resource of a piece and checks that names
// are unique per type within it.
func gatePiece(sp *plugin.SharedPiece, r *xds.Reach) error {
	return gateResources(&plugin.Proxy{Listeners: sp.Listeners, Routes: sp.Routes, Clusters: sp.Clusters, Endpoints: sp.Endpoints, Secrets: sp.Secrets}, xds.NewUnpacked(r))
}

// readsRevision identifies a piece by what it read, for pieces whose
// build gives no Revision of its own.
func readsRevision(deps model.DepSet, reads map[string]model.Revision) model.Revision {
	h := newRevisionHash()
	deps.Each(func(k, r []byte) { // sorted by key
		h.bytes(k)
		h.bytes(r)
	})
	h.bytes([]byte("pieces"))
	for _, k := range sortedKeysOf(reads) {
		h.bytes([]byte(k))
		h.bytes([]byte(reads[k]))
	}
	return h.revision()
}

func resourcesRevision(sp *plugin.SharedPiece) model.Revision {
	return proxyRevision(&plugin.Proxy{Listeners: sp.Listeners, Routes: sp.Routes, Clusters: sp.Clusters, Endpoints: sp.Endpoints, Secrets: sp.Secrets})
}

// fidelityFor checks a piece's resources against the build of a proxy
// that includes it, once per build; warnings name the piece, not the
// proxies that include it (the same for all of them).
func (c *pieceCache) fidelityFor(p *piece, prof *profile.Profile) *pieceFidelity {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.fidelity[prof]; ok {
		return f
	}
	if p.fidelity == nil {
		p.fidelity = map[*profile.Profile]*pieceFidelity{}
	}
	f := &pieceFidelity{}
	f.warnings, f.err = c.t.proxyFidelity(prof, &plugin.Proxy{ID: "resources of shared piece " + p.key, Listeners: p.Listeners, Routes: p.Routes, Clusters: p.Clusters, Endpoints: p.Endpoints, Secrets: p.Secrets}, nil)
	p.fidelity[prof] = f
	return f
}

// grpcCalls lists the gRPC clusters the listeners' network filters call
// through Envoy (rate limit, ext_authz, ...).
func grpcCalls(listeners []*listenerv3.Listener) []grpcCall {
	var out []grpcCall
	for _, l := range listeners {
		chains := append([]*listenerv3.FilterChain{l.GetDefaultFilterChain()}, l.GetFilterChains()...)
		for _, fc := range chains {
			for _, f := range fc.GetFilters() {
				xds.Walk(f, func(m protoreflect.Message) {
					if g, ok := m.Interface().(*corev3.GrpcService_EnvoyGrpc); ok {
						out = append(out, grpcCall{listener: l.GetName(), chain: fc.GetName(), filter: f.GetName(), cluster: g.GetClusterName()})
					}
				})
			}
		}
	}
	return out
}

// closure returns the current pieces a build used (read or included),
// with every piece those read in turn, sorted by key: whose findings are
// the proxy's. They are all current: using them brought them up to date.
func (c *pieceCache) closure(reads map[string]model.Revision, included []string) []*piece {
	seen := map[string]*piece{}
	var visit func(k string)
	visit = func(k string) {
		if _, ok := seen[k]; ok {
			return
		}
		p := c.current(k)
		seen[k] = p
		if p != nil {
			for _, r := range sortedKeysOf(p.reads) {
				visit(r)
			}
		}
	}
	for _, k := range sortedKeysOf(reads) {
		visit(k)
	}
	for _, k := range included {
		visit(k)
	}
	out := make([]*piece, 0, len(seen))
	for _, p := range seen {
		if p != nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// samePieces reports whether two closures give a proxy the same: the
// same findings from every piece, the same resources from those it
// includes. (The Values of the pieces it read were compared already; a
// piece read only by another piece gives the proxy nothing but findings.)
// A piece built again may well give what it gave before.
func samePieces(a, b []*piece, included []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if a[i].key != b[i].key || a[i].diagsRev != b[i].diagsRev {
			return false
		}
		if slices.Contains(included, a[i].key) && (a[i].resRev != b[i].resRev || (a[i].err == nil) != (b[i].err == nil)) {
			return false
		}
	}
	return true
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// composedRevision is the revision of a proxy made of its own resources
// and included pieces: a hash of their hashes, so swapping a piece in
// does not hash the whole proxy again.
func composedRevision(own model.Revision, pieces []*piece) model.Revision {
	if len(pieces) == 0 {
		return own
	}
	h := newRevisionHash()
	h.bytes([]byte(own))
	for _, p := range pieces {
		h.bytes([]byte(p.key))
		h.bytes([]byte(p.resRev))
	}
	return h.revision()
}
