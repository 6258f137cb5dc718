package translate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// ProxyResult is the config of one proxy served directly over ADS, with
// what its build reported.
type ProxyResult struct {
	*plugin.Proxy
	// Plugin is the ProxyBuilder that built it.
	Plugin string
	// Diagnostics are the findings of its build.
	Diagnostics []model.Diagnostic
	// Profile is the build the proxy runs, which its config was checked
	// against (Targets.ForKind of its kind).
	Profile *profile.Profile
	// Stale is true when the build failed and the last good config is kept.
	Stale bool
	// Revision is a content hash of every resource.
	Revision model.Revision
	// Cost is what the build of this config took: the translation that
	// built it, carried over by the translations that reuse it.
	Cost ProxyCost

	deps   model.DepSet // what its build read (sealed: the collector does not scan it)
	noDeps bool         // build again next time, whatever deps holds
	units  []*unit      // the units its build consumed through L7

	// What its build returned, before the included pieces were added:
	// a proxy whose build is unchanged but whose pieces changed is
	// assembled again from these.
	own      *plugin.Proxy
	ownRev   model.Revision
	ownDiags []model.Diagnostic
	ownGRPC  []grpcCall
	reads    map[string]model.Revision // pieces whose Value the build read
	included []string                  // pieces whose resources it includes, in order
	pieces   []*piece                  // every piece it used, transitively, by key
}

// ProxyCost is what building one proxy's config took. aeraki builds
// every proxy ahead, at each translation, and serves it from a snapshot,
// so the time a proxy waits for its answer says nothing of its build;
// this does, for comparing one proxy with a server that builds on demand
// (istiod's time to answer a waypoint is its build) and for finding the
// expensive proxies of a mesh (/debug/config_dump shows it).
type ProxyCost struct {
	// Build is the wall time of the proxy's build: its ProxyBuilder,
	// which includes getting the units it consumes through
	// ProxyContext.L7 (built then when this translation had not built
	// them yet: a waypoint's units are its own, so it builds every one
	// that changed) and the shared pieces it was the first to ask for;
	// then checking its resources against its build (validation and the
	// fidelity gate) and assembling them with the pieces it includes.
	Build time.Duration
	// Units is the part of Build spent in ProxyContext.L7, where its
	// units are built or taken from this translation or the last.
	Units time.Duration
	// UnitsConsumed counts the units it consumed; UnitsBuilt those of
	// them built by its translation rather than reused from the one
	// before.
	UnitsConsumed int
	UnitsBuilt    int
	// Assemble is the wall time of the last assembly: part of Build for
	// a proxy built, the only work for one reassembled (a piece it
	// includes changed, its own build did not).
	Assemble time.Duration
	// Reassembled is set when the last translation that changed the
	// proxy only reassembled it: Build is the earlier build's.
	Reassembled bool
}

// proxyBuild holds the state of building the proxies of one translation:
// the unit cache the protocol chains ProxyBuilders ask for go through,
// shared by the proxies built in parallel.
type proxyBuild struct {
	t      *Translator
	snap   *model.Snapshot
	cache  *unitCache
	pieces *pieceCache
	mu     sync.Mutex
	stats  *Stats
	// touched are the previous proxies that read a key of the change set
	// (the unit cache's, from the same snapshots); the others' deps are
	// unchanged without reading them.
	touched map[string]bool
	// uncertain are the proxies of this translation whose deps were not
	// all checked against snap (guarded by mu); the next translation
	// checks them whatever its change set.
	uncertain map[string]bool
}

// buildProxies builds (or reuses) every proxy of every ProxyBuilder. The
// diagnostics returned are about the builders themselves (a ProxyIDs that
// panicked); each proxy carries its own.
//
// uncertain names the proxies whose deps were not all checked against
// snap, for the Translator to keep (uncheckedProxies).
func (t *Translator) buildProxies(ctx context.Context, snap *model.Snapshot, cache *unitCache, pieces *pieceCache) (_ []*ProxyResult, _ []model.Diagnostic, uncertain map[string]bool) {
	pb := &proxyBuild{t: t, snap: snap, cache: cache, pieces: pieces, stats: cache.stats, touched: t.proxyIndex.touched(cache.changes),
		uncertain: map[string]bool{}}
	type job struct {
		p  plugin.Plugin
		b  plugin.ProxyBuilder
		id string
	}
	var jobs []job
	var keptProxies []*ProxyResult
	var diags []model.Diagnostic
	for _, p := range t.opts.Registry.Plugins() {
		b, ok := p.(plugin.ProxyBuilder)
		if !ok {
			continue
		}
		ids, err := safeProxyIDs(b, snap)
		if err != nil {
			// Without the list of proxies nothing can be built; serving
			// none would publish empty config to every connected proxy of
			// the plugin. Keep the last translation's, stale.
			stale := t.staleProxiesOf(p.Name())
			kept := "no proxy of the plugin gets config until this is fixed"
			if len(stale) > 0 {
				kept = fmt.Sprintf("the %d proxies of the last translation keep their last good config until this is fixed", len(stale))
			}
			diags = append(diags, model.Diagnostic{Severity: model.SeverityError, Reason: "PluginPanic", Plugin: p.Name(),
				Message: fmt.Sprintf("listing the proxies to build: %v; %s", err, kept)})
			t.opts.Log.Error(err, "listing proxies failed", "plugin", p.Name())
			for _, r := range stale {
				cache.carry(r.units, false)
				pb.stats.ProxiesReused++
			}
			keptProxies = append(keptProxies, stale...)
			continue
		}
		for _, id := range ids {
			jobs = append(jobs, job{p, b, id})
		}
	}
	out := make([]*ProxyResult, len(jobs))
	parallel(ctx, len(jobs), t.opts.Workers, func(i int) {
		j := jobs[i]
		out[i] = pb.proxy(j.p.Name(), j.b, j.id)
	})
	if ctx.Err() != nil {
		// Proxies never started are nil: the caller reports ctx's error
		// and drops the lot (sorting them would dereference nil).
		return nil, nil, nil
	}
	out = append(out, keptProxies...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, diags, pb.uncertain
}

// staleProxiesOf returns copies of the last translation's proxies of a
// plugin, marked stale, for a translation where the plugin could not say
// which proxies to build. Their deps are dropped, so the next translation
// that can list them builds them again.
func (t *Translator) staleProxiesOf(name string) []*ProxyResult {
	var out []*ProxyResult
	for _, prev := range t.proxies {
		if prev.Plugin != name || prev.Revision == "" {
			continue
		}
		r := *prev
		r.Stale, r.deps, r.noDeps = true, model.DepSet{}, true
		out = append(out, &r)
	}
	return out
}

func safeProxyIDs(b plugin.ProxyBuilder, snap *model.Snapshot) (ids []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			ids, err = nil, fmt.Errorf("plugin panicked: %v", r)
		}
	}()
	return b.ProxyIDs(snap.View()), nil
}

func (pb *proxyBuild) proxy(name string, b plugin.ProxyBuilder, id string) *ProxyResult {
	key := name + "|" + id
	prev := pb.t.proxies[key]
	valid, read := false, false
	if prev != nil && !prev.noDeps {
		valid, read = stillValid(pb.cache.changes, pb.touched, pb.t.uncheckedProxies, key, prev.deps, pb.snap)
	}
	if read {
		pb.cache.mu.Lock() // the unit cache counts its records into the same field
		pb.stats.RecordsChecked++
		pb.cache.mu.Unlock()
	}
	if valid && !pb.pieces.readsChanged(name, prev.reads, nil) {
		// The units the proxy used are part of its deps, so they are
		// unchanged too: they are this translation's units as well.
		pb.cache.carry(prev.units, true)
		pb.mu.Lock()
		pb.stats.ProxiesReused++
		pb.mu.Unlock()
		for _, k := range prev.included {
			pb.pieces.get(name, k, nil, nil) // up to date, for the closure
		}
		closure := pb.pieces.closure(prev.reads, prev.included)
		if samePieces(closure, prev.pieces, prev.included) || prev.own == nil {
			// Unchanged, or a build that failed and fails again.
			return prev
		}
		// Its build would give the same: only pieces it uses changed
		// (the resources of one it includes, the findings of one it
		// read). Swap them in.
		pb.mu.Lock()
		pb.stats.ProxiesReassembled++
		pb.mu.Unlock()
		res := &ProxyResult{Plugin: name, Profile: prev.Profile, deps: prev.deps, units: prev.units, own: prev.own, ownRev: prev.ownRev,
			ownDiags: prev.ownDiags, ownGRPC: prev.ownGRPC, reads: prev.reads, included: prev.included, Cost: prev.Cost}
		start := time.Now()
		err := pb.assemble(res, closure)
		res.Cost.Assemble, res.Cost.Reassembled = time.Since(start), true
		if err != nil {
			return pb.failed(res, prev, name, id, err)
		}
		return res
	}
	start := time.Now()
	var cost ProxyCost // its Units and counts under depsMu
	deps := model.Deps{}
	// A ProxyBuilder may read the view and ask for chains from several
	// goroutines: the view's records and the chains' deps go into deps
	// under one lock.
	var depsMu sync.Mutex
	view := pb.snap.TrackedViewLocked(deps, &depsMu)
	var consumed []*unit
	l7 := func(req plugin.L7Request) (plugin.L7Chain, bool) {
		l7Start := time.Now()
		defer func() {
			d := time.Since(l7Start)
			depsMu.Lock()
			cost.Units += d
			depsMu.Unlock()
		}()
		if req.Profile == nil {
			req.Profile = pb.t.opts.Targets.ForRole(req.Role)
		}
		u := pb.unit(req, nil)
		if u == nil {
			return plugin.L7Chain{}, false
		}
		chainUnits := []*unit{u}
		var chain plugin.L7Chain // only for a unit that is not skipped
		if !u.Skipped {
			chain = plugin.L7Chain{Plugin: u.Plugin, Filters: u.Filters, RouteConfig: u.RouteConfig, FailedClosed: u.FailedClosed, PatchCluster: chainPatcher(u.ClusterPatches)}
			for i := range u.Callers {
				c := u.Callers[i]
				v := pb.unit(req, &c)
				if v != nil {
					chainUnits = append(chainUnits, v)
				}
				if v == nil || v.Skipped {
					// The default chain assumes these callers are served here:
					// refuse them rather than let them fall through to it.
					chain.ByCaller = append(chain.ByCaller, plugin.CallerChain{Caller: c, FailedClosed: true})
					continue
				}
				chain.ByCaller = append(chain.ByCaller, plugin.CallerChain{Caller: c, Filters: v.Filters, RouteConfig: v.RouteConfig, FailedClosed: v.FailedClosed})
			}
		}
		if pb.cache.anyUncertain(chainUnits) {
			// A unit kept for a stale proxy: its reads were not checked
			// against this snapshot, so neither are this proxy's.
			pb.mu.Lock()
			pb.uncertain[key] = true
			pb.mu.Unlock()
		}
		depsMu.Lock()
		for _, cu := range chainUnits {
			cu.deps.AddTo(deps, pb.snap)
		}
		consumed = append(consumed, chainUnits...)
		for _, cu := range chainUnits {
			if pb.cache.prev[cu.key] != cu {
				cost.UnitsBuilt++
			}
		}
		depsMu.Unlock()
		if u.Skipped {
			return plugin.L7Chain{}, false
		}
		return chain, true
	}
	ctx := plugin.NewProxyContext(name, view, l7)
	ctx.Targets = pb.t.opts.Targets
	ctx.Pieces = &pieceSource{c: pb.pieces, plugin: name}
	res := &ProxyResult{Plugin: name}
	proxy, err := runProxy(b, ctx, id)
	depsMu.Lock()
	res.deps = deps.Seal()
	res.units = consumed
	cost.UnitsConsumed = len(consumed)
	res.Cost = cost
	depsMu.Unlock()
	res.reads, res.included = ctx.SharedReads(), ctx.IncludedKeys()
	// The validation and the fidelity walk meet the same Anys (a
	// waypoint's thousand chains' filters, clusters' transport sockets):
	// one Unpacked decodes each once for both.
	unpacked := pb.t.reach.Unpacked()
	defer unpacked.Release()
	if err == nil {
		err = gateResources(proxy, unpacked)
	}
	var warnings []model.Diagnostic
	if err == nil {
		res.Profile = pb.t.opts.Targets.ForKind(proxy.Kind)
		warnings, err = pb.t.proxyFidelity(res.Profile, proxy, unpacked)
	}
	res.ownDiags = append(ctx.Reports(), warnings...)
	pb.mu.Lock()
	pb.stats.ProxiesBuilt++
	pb.mu.Unlock()
	if err == nil {
		res.own, res.ownRev, res.ownGRPC = proxy, proxyRevision(proxy), grpcCalls(proxy.Listeners)
		assembleStart := time.Now()
		err = pb.assemble(res, pb.pieces.closure(res.reads, res.included))
		res.Cost.Assemble = time.Since(assembleStart)
	}
	res.Cost.Build = time.Since(start)
	if err != nil {
		if res.Diagnostics == nil {
			res.Diagnostics = res.ownDiags
		}
		return pb.failed(res, prev, name, id, err)
	}
	return res
}

// assemble makes res the proxy as served: its own resources, then those
// of the pieces it includes, checked together (names unique per type,
// gRPC clusters present, the pieces' resources against the proxy's
// build), with its own findings and those of every piece it used.
func (pb *proxyBuild) assemble(res *ProxyResult, closure []*piece) error {
	res.pieces = closure
	res.Diagnostics = append([]model.Diagnostic(nil), res.ownDiags...)
	for _, p := range closure {
		res.Diagnostics = append(res.Diagnostics, p.diags...)
	}
	byKey := map[string]*piece{}
	for _, p := range closure {
		byKey[p.key] = p
	}
	var included []*piece
	var shared []*plugin.SharedPiece
	for _, k := range res.included {
		p := byKey[k]
		if p == nil || p.err != nil {
			if p != nil {
				return fmt.Errorf("shared piece %s: %w", k, p.err)
			}
			return fmt.Errorf("shared piece %s is missing", k)
		}
		included = append(included, p)
		shared = append(shared, p.SharedPiece)
	}
	for _, k := range sortedKeysOf(res.reads) {
		if p := byKey[k]; p == nil || p.err != nil {
			if p != nil {
				return fmt.Errorf("shared piece %s: %w", k, p.err)
			}
			return fmt.Errorf("shared piece %s is missing", k)
		}
	}
	proxy := res.own.WithPieces(shared...)
	var errs []error
	if len(included) > 0 {
		errs = append(errs, uniqueNames(proxy)...)
	}
	calls := res.ownGRPC
	for _, p := range included {
		calls = append(calls, p.grpc...)
		f := pb.pieces.fidelityFor(p, res.Profile)
		if f.err != nil {
			errs = append(errs, f.err)
		}
		res.Diagnostics = append(res.Diagnostics, f.warnings...)
	}
	errs = append(errs, grpcClustersExist(proxy, calls)...)
	if len(errs) > 0 {
		var fe *fidelityError
		for _, e := range errs {
			if errors.As(e, &fe) {
				return e
			}
		}
		return fmt.Errorf("generated config failed validation: %w", errors.Join(errs...))
	}
	res.Proxy, res.Revision = proxy, composedRevision(res.ownRev, included)
	return nil
}

// failed is the result of a proxy whose build (or assembly) failed: the
// last good config, stale, when there is one.
func (pb *proxyBuild) failed(res, prev *ProxyResult, name, id string, err error) *ProxyResult {
	d := model.Diagnostic{Severity: model.SeverityError, Reason: "PluginError", Plugin: name,
		Message: fmt.Sprintf("building proxy %s: %v", id, err)}
	var fe *fidelityError
	if errors.As(err, &fe) {
		d.Reason = fe.findings[0].Reason
	}
	// prev holds good config when it has a revision: built fine, or
	// itself kept from an earlier good build (a second failure in a
	// row must not drop it).
	if prev != nil && prev.Revision != "" {
		d.Message += "; the last good config is kept"
		res.Proxy, res.Stale, res.Revision, res.Profile = prev.Proxy, true, prev.Revision, prev.Profile
	} else {
		d.Message += "; the proxy gets no config until this is fixed"
		res.Proxy, res.Revision = &plugin.Proxy{ID: id}, ""
	}
	res.Diagnostics = append(res.Diagnostics, d)
	pb.t.opts.Log.Error(err, "proxy build failed", "plugin", name, "proxy", id)
	return res
}

// unit returns the chain for a service port in a role (for one caller
// class when caller is set), from the translation's unit cache.
func (pb *proxyBuild) unit(req plugin.L7Request, caller *plugin.Caller) *unit {
	p := pb.t.opts.Registry.ForPort(req.Port)
	if p == nil {
		return nil
	}
	if _, ok := p.(plugin.NetworkFilterBuilder); !ok {
		return nil
	}
	host, port := req.Service.Hostname, req.Port.Number
	key := keyFor(req.Role, host, port, req.Waypoint, req.Profile, pb.t.opts.Targets.ForRole(req.Role))
	var servedBy model.WaypointServer
	if req.Role == plugin.RoleWaypoint {
		servedBy = model.ServedByAeraki
	}
	byCaller := req.ByCaller && req.Role == plugin.RoleWaypoint
	if byCaller {
		key += "|by-caller"
		if caller != nil {
			key += "|" + caller.String()
		}
	} else if caller != nil {
		return nil
	}
	return pb.cache.get(unitKey{key: key, role: req.Role, host: host, port: port, plugin: p, waypoint: req.Waypoint, servedBy: servedBy, profile: req.Profile, byCaller: byCaller, caller: caller})
}

func runProxy(b plugin.ProxyBuilder, ctx *plugin.ProxyContext, id string) (p *plugin.Proxy, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugin panicked: %v", r)
		}
	}()
	p, err = b.BuildProxy(ctx, id)
	if err == nil && p == nil {
		err = errors.New("plugin returned no proxy")
	}
	if err == nil && p.ID != id {
		err = fmt.Errorf("plugin returned proxy %q when asked for %q", p.ID, id)
	}
	return p, err
}

// gateResources validates every resource of a proxy (or of a shared
// piece) and checks that names are unique per type, as Envoy requires.
// The walks are pruned by u's Reach and decode each Any once through u.
func gateResources(p *plugin.Proxy, u *xds.Unpacked) error {
	var errs []error
	check := func(kind, name string, m proto.Message, seen map[string]bool) {
		if name == "" {
			errs = append(errs, fmt.Errorf("%s without a name", kind))
		} else if seen[name] {
			errs = append(errs, fmt.Errorf("%s %q defined twice", kind, name))
		}
		seen[name] = true
		if err := u.Validate(m); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", kind, name, err))
		}
	}
	seen := map[string]bool{}
	for _, r := range p.Listeners {
		check("listener", r.GetName(), r, seen)
	}
	seen = map[string]bool{}
	for _, r := range p.Routes {
		check("route configuration", r.GetName(), r, seen)
	}
	seen = map[string]bool{}
	for _, r := range p.Clusters {
		check("cluster", r.GetName(), r, seen)
	}
	seen = map[string]bool{}
	for _, r := range p.Endpoints {
		check("cluster load assignment", r.GetClusterName(), r, seen)
	}
	seen = map[string]bool{}
	for _, r := range p.Secrets {
		check("secret", r.GetName(), r, seen)
	}
	if len(errs) > 0 {
		return fmt.Errorf("generated config failed validation: %w", errors.Join(errs...))
	}
	return nil
}

// uniqueNames checks that an assembled proxy (its own resources and the
// pieces it includes, each valid on its own) names no two resources of
// a type alike.
func uniqueNames(p *plugin.Proxy) []error {
	var errs []error
	check := func(kind string, names func(yield func(string) bool)) {
		seen := map[string]bool{}
		for n := range names {
			if seen[n] {
				errs = append(errs, fmt.Errorf("%s %q defined twice (by the proxy and a shared piece it includes, or by two pieces)", kind, n))
			}
			seen[n] = true
		}
	}
	check("listener", func(yield func(string) bool) {
		for _, r := range p.Listeners {
			yield(r.GetName())
		}
	})
	check("route configuration", func(yield func(string) bool) {
		for _, r := range p.Routes {
			yield(r.GetName())
		}
	})
	check("cluster", func(yield func(string) bool) {
		for _, r := range p.Clusters {
			yield(r.GetName())
		}
	})
	check("cluster load assignment", func(yield func(string) bool) {
		for _, r := range p.Endpoints {
			yield(r.GetClusterName())
		}
	})
	check("secret", func(yield func(string) bool) {
		for _, r := range p.Secrets {
			yield(r.GetName())
		}
	})
	return errs
}

// grpcClustersExist checks that every gRPC service a proxy's network
// filters call through Envoy (rate limit, ext_authz, ...) names a cluster
// the proxy has. Envoy rejects a listener whose filter names an unknown
// gRPC cluster, which would take every chain of that listener down with
// it. Transport sockets are not checked: their SDS source is a cluster of
// the proxy's bootstrap (sds-grpc), not of its xDS config.
func grpcClustersExist(p *plugin.Proxy, calls []grpcCall) []error {
	if len(calls) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, c := range p.Clusters {
		have[c.GetName()] = true
	}
	var errs []error
	for _, c := range calls {
		if !have[c.cluster] {
			errs = append(errs, fmt.Errorf("listener %q chain %q: filter %s calls gRPC cluster %q, which the proxy does not have", c.listener, c.chain, c.filter, c.cluster))
		}
	}
	return errs
}

// proxyFidelity checks every resource of a proxy against its build,
// decoding Anys through u (nil: each decoded when met).
func (t *Translator) proxyFidelity(p *profile.Profile, proxy *plugin.Proxy, u *xds.Unpacked) ([]model.Diagnostic, error) {
	checker := t.checker()
	checker.Unpacked = u
	checker.Scratch = t.scratch()
	defer t.scratches.Put(checker.Scratch)
	var refused []fidelity.Finding
	var warnings []model.Diagnostic
	seen := map[string]bool{}
	check := func(kind, name string, m proto.Message) {
		for _, f := range checker.Check(p, m) {
			f.Message = kind + " " + name + ": " + f.Message
			k := f.Reason + "|" + f.Extension + "|" + f.Type + "|" + f.Field
			if seen[k] {
				continue
			}
			seen[k] = true
			if f.Refuses() {
				refused = append(refused, f)
			} else {
				warnings = append(warnings, model.Diagnostic{Severity: model.SeverityWarning, Reason: f.Reason,
					Message: fmt.Sprintf("proxy %s (proxy build %s): %s", proxy.ID, p.Name, f.Message)})
			}
		}
	}
	for _, r := range proxy.Listeners {
		check("listener", r.GetName(), r)
	}
	for _, r := range proxy.Routes {
		check("route configuration", r.GetName(), r)
	}
	for _, r := range proxy.Clusters {
		check("cluster", r.GetName(), r)
	}
	for _, r := range proxy.Endpoints {
		check("cluster load assignment", r.GetClusterName(), r)
	}
	for _, r := range proxy.Secrets {
		check("secret", r.GetName(), r)
	}
	if len(refused) > 0 {
		return warnings, &fidelityError{profile: p, findings: refused}
	}
	return warnings, nil
}

func proxyRevision(p *plugin.Proxy) model.Revision {
	h := newRevisionHash()
	for _, r := range p.Listeners {
		h.message(r)
	}
	for _, r := range p.Routes {
		h.message(r)
	}
	for _, r := range p.Clusters {
		h.message(r)
	}
	for _, r := range p.Endpoints {
		h.message(r)
	}
	for _, r := range p.Secrets {
		h.message(r)
	}
	return h.revision()
}
