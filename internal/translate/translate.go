package translate

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Options configure a Translator.
type Options struct {
	// Registry holds the plugins. Required.
	Registry *plugin.Registry
	// Log receives structured logs; logr.Discard() when unset.
	Log logr.Logger
	// Workers bounds parallel unit builds; GOMAXPROCS when 0.
	Workers int
	// Targets are the builds of the proxies configured: plugins build for
	// them and the fidelity gate checks every resource against them.
	// plugin.DefaultTargets() fills what is unset.
	Targets plugin.Targets
	// Profiles is where the gate looks for the builds that would carry
	// what a target lacks, for its messages; profile.Builtin() when nil.
	Profiles *profile.Catalog
}

// Translator turns snapshots into config, reusing what a new snapshot did
// not change. It is safe for use by one goroutine at a time; the server
// serializes translations.
type Translator struct {
	opts    Options
	mu      sync.Mutex
	units   map[string]*unit        // by unit key, from the last translation
	proxies map[string]*ProxyResult // by plugin|proxy id, from the last translation
	pieces  map[string]*piece       // shared pieces by key, from the last translation
	checked *verdicts               // core MetaRouter checks, from the last translation
	objects *verdicts               // plugins' ObjectValidator findings (nil: no validator), likewise
	// gates are the unit gates' findings by output content (verdict.go).
	gates *verdictCache
	// wires are the build workers' *wireConv (structwire.go), whose
	// buffers are reused: each patch value is then one allocation of its
	// exact size instead of a buffer grown (and copied) by appending, with
	// up to half of it held unused for as long as the output lives.
	wires sync.Pool
	// reach prunes the validation and secret walks of every build, for
	// the translator's life (xds.Reach).
	reach *xds.Reach
	// fidelity keeps the fidelity walks' per-type facts for the
	// translator's life (fidelity.Memo); scratches are their working
	// memory (*fidelity.Scratch), one per running check.
	fidelity  *fidelity.Memo
	scratches sync.Pool
	// recorders are the model.Deps the unit builds record their reads
	// into, cleared once sealed (unit.go): a map per build, dropped as
	// soon as it was sealed, was 7 MB of garbage per cold start.
	recorders sync.Pool

	// What the last translation output, kept to be patched rather than
	// rebuilt: the unit plan and the units outside it (asked for by
	// proxies), Output.Units, and the EnvoyFilters' grouping and list.
	plan           *unitPlan
	unplannedUnits map[string]bool
	unitList       []*Unit
	ef             *efState

	// Change sets (changes.go): the snapshot the kept units and proxies
	// were checked against, inverted indexes of their recorded reads, and
	// the ones whose reads were not checked against it; likewise for the
	// MetaRouter verdicts, checked against the unfiltered snapshot.
	unitsSnap        *model.Snapshot
	unitIndex        depIndex
	uncheckedUnits   map[string]bool
	proxyIndex       depIndex
	uncheckedProxies map[string]bool
	checkedSnap      *model.Snapshot
}

// New returns a Translator.
func New(opts Options) (*Translator, error) {
	if opts.Registry == nil {
		return nil, fmt.Errorf("translate: a plugin registry is required")
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	opts.Targets = withDefaults(opts.Targets)
	return &Translator{opts: opts, units: map[string]*unit{}, proxies: map[string]*ProxyResult{}, pieces: map[string]*piece{}, checked: coreVerdicts(opts.Registry), objects: pluginVerdicts(opts.Registry, opts.Targets),
		unitIndex: depIndex{}, proxyIndex: depIndex{}, gates: newVerdictCache(), reach: xds.NewReach(), fidelity: fidelity.NewMemo()}, nil
}

// Output is the result of one translation.
type Output struct {
	// Snapshot is the snapshot the plugins saw: the input without the
	// objects that failed validation.
	Snapshot *model.Snapshot
	// Registry is the plugins that built it, for tools that read the
	// output with a plugin's help (aeraki trace models the waypoints
	// istiod serves with a plugin.IstiodWaypointModeler).
	Registry *plugin.Registry
	// EnvoyFilters are the patches for istiod, sorted by namespace and
	// name: for sidecars, and for the waypoints istiod serves (these
	// carry WaypointAnnotation and target the waypoint's Gateway).
	EnvoyFilters []*EnvoyFilter
	// Units are the per service port and role builds, sorted by key.
	Units []*Unit
	// Proxies are the configs of proxies served directly over ADS
	// (waypoints, ztunnels, proxyless clients), sorted by id.
	Proxies []*ProxyResult
	// Diagnostics are every finding, deduplicated and sorted by object.
	Diagnostics []model.Diagnostic
	// Rejected lists the objects left out because of errors.
	Rejected []model.ObjectRef
	// Stats says how much work the translation did.
	Stats Stats
}

// Stats counts the work of one translation.
type Stats struct {
	// UnitsBuilt is how many units ran their plugin.
	UnitsBuilt int
	// UnitsReused is how many units were taken from the previous translation.
	UnitsReused int
	// ProxiesBuilt and ProxiesReused count whole-proxy builds likewise: a
	// reused proxy's build did not run.
	ProxiesBuilt, ProxiesReused int
	// ProxiesReassembled counts the reused proxies that were served
	// something new all the same: the resources of a shared piece they
	// include changed (plugin.ProxyContext.Include), or its findings.
	ProxiesReassembled int
	// SharedBuilt and SharedReused count the shared pieces
	// (plugin.SharedPiece) built and taken from the last translation.
	SharedBuilt, SharedReused int
	// ChangedKeys is how many dependency keys changed since the snapshot
	// the previous translation built from (model.Diff). FullCheck is set
	// when the translation did not work from them: no previous snapshot,
	// other mesh options, or more than a quarter of the keys changed; then
	// every unit's, proxy's and MetaRouter verdict's recorded reads are
	// read against the snapshot.
	ChangedKeys int
	FullCheck   bool
	// RecordsChecked counts the previous translation's units, proxies and
	// MetaRouter verdicts whose recorded reads were read against this
	// snapshot: with a change set, only those that read a changed key.
	RecordsChecked int
	// Planned is set when the translation listed the units the snapshot
	// needs (every port of every service, planUnits); otherwise the last
	// translation's list was kept, nothing it read having changed.
	Planned bool
	// UnitsLookedAt counts the units whose reuse was decided one by one:
	// every unit when the list was made again; with a kept list only the
	// units that read a changed key (or whose reads were never checked)
	// and those proxies asked for. The others are the last translation's
	// without a look.
	UnitsLookedAt int
	// RoutersLookedAt counts the MetaRouters whose core verdict was looked
	// at: with a change set, those that read a changed key and those of
	// the namespaces whose routers changed.
	RoutersLookedAt int
	// ObjectsLookedAt counts likewise the routing objects whose plugin
	// ObjectValidator findings were looked at (every validator runs again
	// on an object looked at whose revision or recorded reads changed).
	ObjectsLookedAt int
	// EnvoyFilterGroups counts the groups of units (a service's sidecar
	// units; a service's chain in a waypoint istiod serves) assembled into
	// EnvoyFilters or found unchanged: every group the first time, then
	// only those of changed units (and the ServiceEntries without an
	// address, which share listeners). Output.Units and
	// Output.EnvoyFilters are the last translation's lists, patched.
	EnvoyFilterGroups int
	// Duration is the wall time of the translation.
	Duration time.Duration
}

// Translate builds config for snap. Diagnostics from the source (decode
// errors, duplicates) are not its business; callers merge them.
func (t *Translator) Translate(snap *model.Snapshot) *Output {
	out, _ := t.TranslateContext(context.Background(), snap)
	return out
}

// TranslateContext is Translate that stops early when ctx ends (a signal
// during `aeraki render` or `aeraki serve`): no more units or proxies are
// started, the ones running finish, and it returns ctx's error and no
// output. The Translator is left as after the previous translation, so
// the next one reuses what that one built.
func (t *Translator) TranslateContext(ctx context.Context, snap *model.Snapshot) (*Output, error) {
	start := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()

	var stats Stats
	checkedSnap, unitsSnap := t.checkedSnap, t.unitsSnap
	changes := changesBetween(checkedSnap, snap)
	diags, rejected := validate(t.opts.Registry, snap, t.checked, t.objects, changes, &stats)
	t.checkedSnap = snap
	eff := snap.Without(rejected)
	if eff != snap || unitsSnap != checkedSnap {
		// Objects left out (now or last time), or a translation stopped
		// after validating: the units' snapshots are other snapshots.
		changes = changesBetween(unitsSnap, eff)
	}

	cache := newUnitCache(t, eff, &stats, changes)
	stats.ChangedKeys, stats.FullCheck = len(cache.changes.keys), cache.changes.full
	buildUnits(ctx, cache, cache.work(), t.opts.Workers)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pieces := newPieceCache(t, eff, &stats)
	proxies, proxyDiags, uncertainProxies := t.buildProxies(ctx, eff, cache, pieces)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	changed := cache.finish()
	diags = append(diags, proxyDiags...)
	out := &Output{Snapshot: eff, Registry: t.opts.Registry, Stats: stats, Proxies: proxies}
	// Output.Units and the EnvoyFilters are the last translation's,
	// patched with the units that changed (all of them the first time).
	out.Units = patchSorted(t.unitList, changed.removed, slices.Clone(changed.added), compareUnits)
	for _, u := range out.Units {
		diags = append(diags, u.Diagnostics...)
	}
	for _, p := range proxies {
		diags = append(diags, p.Diagnostics...)
	}
	efs := envoyFilters(ctx, eff, t.ef, changed, out.Units)
	if err := ctx.Err(); err != nil || efs == nil {
		if err == nil {
			err = context.Canceled
		}
		return nil, err
	}
	out.EnvoyFilters, out.Stats.EnvoyFilterGroups = efs.list, len(efs.groups)
	diags = append(diags, efs.diags...)
	t.ef, t.unitList = efs.commit(), out.Units
	cache.commit()
	t.pieces = pieces.cur
	next := make(map[string]*ProxyResult, len(proxies))
	for _, p := range proxies {
		next[p.Plugin+"|"+p.ID] = p
	}
	for k, p := range next {
		if prev := t.proxies[k]; prev != p {
			if prev != nil {
				t.proxyIndex.remove(k, prev.deps, snap)
			}
			t.proxyIndex.add(k, p.deps, snap)
		}
	}
	for k, prev := range t.proxies {
		if _, ok := next[k]; !ok {
			t.proxyIndex.remove(k, prev.deps, snap)
		}
	}
	t.proxies, t.uncheckedProxies = next, uncertainProxies
	for k := range rejected {
		if o, ok := snap.ObjectByKey(k); ok {
			out.Rejected = append(out.Rejected, o.Ref)
		}
	}
	sort.Slice(out.Rejected, func(i, j int) bool { return out.Rejected[i].Key() < out.Rejected[j].Key() })
	out.Diagnostics = normalize(snap, diags)
	out.Stats.Duration = time.Since(start)
	t.opts.Log.V(1).Info("translated", "units", len(out.Units), "built", stats.UnitsBuilt, "reused", stats.UnitsReused,
		"changedKeys", stats.ChangedKeys, "fullCheck", stats.FullCheck, "recordsChecked", stats.RecordsChecked,
		"envoyFilters", len(out.EnvoyFilters), "rejected", len(out.Rejected), "duration", out.Stats.Duration)
	return out, nil
}

// withDefaults fills the targets a caller left unset with the defaults.
func withDefaults(t plugin.Targets) plugin.Targets {
	d := plugin.DefaultTargets()
	if t.Sidecar == nil {
		t.Sidecar = d.Sidecar
	}
	proxies := map[plugin.ProxyKind]*profile.Profile{}
	for k, v := range d.Proxies {
		proxies[k] = v
	}
	for k, v := range t.Proxies {
		if v != nil {
			proxies[k] = v
		}
	}
	t.Proxies = proxies
	return t
}

// Targets are the builds the translator builds for.
func (t *Translator) Targets() plugin.Targets { return t.opts.Targets }

func (t *Translator) checker() fidelity.Checker {
	return fidelity.Checker{Catalog: t.opts.Profiles, Memo: t.fidelity}
}

// scratch is a fidelity walk's working memory, for one caller's checks;
// it goes back with t.scratches.Put once they are done.
func (t *Translator) scratch() *fidelity.Scratch {
	if s, ok := t.scratches.Get().(*fidelity.Scratch); ok {
		return s
	}
	return &fidelity.Scratch{}
}

// normalize fills origins, drops duplicates and sorts diagnostics.
func normalize(snap *model.Snapshot, diags []model.Diagnostic) []model.Diagnostic {
	seen := map[string]bool{}
	out := make([]model.Diagnostic, 0, len(diags))
	for _, d := range diags {
		if d.Origin.File == "" && d.Object.Kind != "" {
			if o, ok := snap.Object(d.Object); ok {
				d.Origin = o.Origin
			}
		}
		k := fmt.Sprintf("%d|%s|%s|%s|%s|%s", d.Severity, d.Object.Key(), d.Field, d.Reason, d.Message, d.Plugin)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Object.Key() != out[j].Object.Key() {
			return out[i].Object.Key() < out[j].Object.Key()
		}
		if out[i].Field != out[j].Field {
			return out[i].Field < out[j].Field
		}
		return out[i].Message < out[j].Message // units report in no fixed order
	})
	return out
}
