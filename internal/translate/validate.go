package translate

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// validated is a verdict on one routing object (the core's checks of a
// MetaRouter, or every plugin's ObjectValidator), kept while the object
// and everything the checks read (recorded by a tracked view) are
// unchanged, so an edit does not revalidate every object of the mesh.
type validated struct {
	rev   model.Revision
	ns    kindNS
	deps  model.DepSet
	diags []model.Diagnostic
}

// kindNS names the objects of one routing kind in one namespace.
type kindNS struct {
	gk schema.GroupKind
	ns string
}

// gkMetaRouter is the kind the core checks.
var gkMetaRouter = schema.GroupKind{Group: metaprotocolv1alpha1.GroupName, Kind: "MetaRouter"}

// verdicts are the verdicts of one set of checks on every object of some
// routing kinds in the snapshot last validated, updated in place by each
// validation (which is always kept, even when the translation is stopped
// later).
//
// With a change set, only the objects whose verdict read a changed key
// (the inverted index) and those of the namespaces whose list of objects
// of the kind changed are looked at: an object added, edited or deleted
// changes its namespace's list (a dependency key, found here by reading
// the list through a tracked view once per kind and namespace). An object
// in a namespace that had none of its kind is in no known list: the count
// of objects then differs from the count of verdicts, and every object is
// looked at.
type verdicts struct {
	kinds func(*model.Snapshot) []schema.GroupKind
	// run checks one object, reading the snapshot through view (tracked).
	run func(view *model.View, o model.ObjectInfo) []model.Diagnostic
	// looked counts an object looked at into the translation's Stats.
	looked func(*Stats)

	byKey     map[string]*validated
	byNS      map[kindNS]map[string]bool // object keys
	nsOfKey   map[string]kindNS          // dependency key of a namespace's objects of a kind
	withDiags map[string]bool            // objects whose verdict has findings
	idx       depIndex                   // the inverted index of the verdicts' reads
	rec       model.Deps                 // what a check records into, cleared once sealed
}

func newVerdicts(kinds func(*model.Snapshot) []schema.GroupKind, run func(*model.View, model.ObjectInfo) []model.Diagnostic, looked func(*Stats)) *verdicts {
	return &verdicts{kinds: kinds, run: run, looked: looked, byKey: map[string]*validated{}, byNS: map[kindNS]map[string]bool{}, nsOfKey: map[string]kindNS{},
		withDiags: map[string]bool{}, idx: depIndex{}}
}

// coreVerdicts are the core's checks of every MetaRouter: its hosts,
// routes and destinations, and whether a plugin handles a port of them.
func coreVerdicts(reg *plugin.Registry) *verdicts {
	return newVerdicts(func(*model.Snapshot) []schema.GroupKind { return []schema.GroupKind{gkMetaRouter} },
		func(view *model.View, o model.ObjectInfo) []model.Diagnostic {
			mr := o.Object.(*metaprotocolv1alpha1.MetaRouter)
			ds := metaroute.Validate(view, mr)
			if !hasErrors(ds) {
				ds = append(ds, protocolCheck(reg, view, mr.Namespace, mr.Spec.Hosts, o.Ref)...)
			}
			return ds
		}, func(s *Stats) { s.RoutersLookedAt++ })
}

// pluginVerdicts are every plugin ObjectValidator's findings on every
// routing object, in the order of the plugins; nil when no plugin
// validates objects. A validator reads the mesh through its context's
// view, tracked like a build's.
func pluginVerdicts(reg *plugin.Registry, targets plugin.Targets) *verdicts {
	var validators []plugin.Plugin
	for _, p := range reg.Plugins() {
		if _, ok := p.(plugin.ObjectValidator); ok {
			validators = append(validators, p)
		}
	}
	if len(validators) == 0 {
		return nil
	}
	routing := func(snap *model.Snapshot) []schema.GroupKind {
		var out []schema.GroupKind
		for _, k := range snap.Kinds().All() {
			if k.Routing { // the others describe the mesh rather than configure it
				out = append(out, k.GroupKind())
			}
		}
		return out
	}
	return newVerdicts(routing, func(view *model.View, o model.ObjectInfo) []model.Diagnostic {
		var out []model.Diagnostic
		for _, p := range validators {
			owner := p
			ctx := plugin.NewValidateContext(p.Name(), view, func(port *model.Port) bool {
				o := reg.ForPort(port)
				return o != nil && o.Name() == owner.Name()
			})
			ctx.Targets = targets
			out = append(out, safeValidate(p.(plugin.ObjectValidator), ctx, o)...)
		}
		return out
	}, func(s *Stats) { s.ObjectsLookedAt++ })
}

// check looks at one object: its verdict is kept when its revision and
// its recorded reads are unchanged, else the checks run again. It
// returns whether it looked (false: no such object).
func (vs *verdicts) check(snap *model.Snapshot, key string, ch changeSet, touched map[string]bool, stats *Stats) bool {
	info, ok := snap.ObjectByKey(key)
	if !ok {
		return false
	}
	vs.looked(stats)
	v := vs.byKey[key]
	valid, read := false, false
	if v != nil && v.rev == info.Revision {
		valid, read = stillValid(ch, touched, nil, key, v.deps, snap)
	}
	if read {
		stats.RecordsChecked++
	}
	if valid {
		return true
	}
	if vs.rec == nil {
		vs.rec = model.Deps{}
	}
	view := snap.TrackedView(vs.rec)
	ds := vs.run(view, info)
	view.Untrack()
	deps := vs.rec.Seal()
	clear(vs.rec)
	if v != nil {
		vs.idx.remove(key, v.deps, snap)
	}
	vs.idx.add(key, deps, snap)
	at := kindNS{gk: schema.GroupKind{Group: info.Ref.Group, Kind: info.Ref.Kind}, ns: info.Ref.Namespace}
	vs.byKey[key] = &validated{rev: info.Revision, ns: at, deps: deps, diags: ds}
	if vs.byNS[at] == nil {
		vs.byNS[at] = map[string]bool{}
		d := model.Deps{}
		snap.TrackedView(d).ObjectsInNamespace(at.gk, at.ns)
		for k := range d {
			vs.nsOfKey[k] = at
		}
	}
	vs.byNS[at][key] = true
	if len(ds) > 0 {
		vs.withDiags[key] = true
	} else {
		delete(vs.withDiags, key)
	}
	return true
}

// drop forgets the verdict on an object that is gone.
func (vs *verdicts) drop(snap *model.Snapshot, key string) {
	v := vs.byKey[key]
	if v == nil {
		return
	}
	vs.idx.remove(key, v.deps, snap)
	delete(vs.byKey, key)
	delete(vs.withDiags, key)
	if l := vs.byNS[v.ns]; l != nil {
		delete(l, key)
		if len(l) == 0 {
			delete(vs.byNS, v.ns)
		}
	}
}

// objectKey is the ObjectRef key of a routing object of kind gk.
func objectKey(gk schema.GroupKind, o runtime.Object) string {
	m, err := meta.Accessor(o)
	if err != nil {
		return ""
	}
	return model.ObjectRef{Group: gk.Group, Kind: gk.Kind, Namespace: m.GetNamespace(), Name: m.GetName()}.Key()
}

// update brings the verdicts to snap, ch being the change set from the
// snapshot they were made for.
func (vs *verdicts) update(snap *model.Snapshot, ch changeSet, stats *Stats) {
	view := snap.View()
	kinds := vs.kinds(snap)
	touched := vs.idx.touched(ch)
	if !ch.full {
		seen := map[string]bool{}
		lists := map[kindNS]bool{}
		for _, k := range ch.keys {
			if at, ok := vs.nsOfKey[k]; ok {
				lists[at] = true
			}
		}
		for at := range lists {
			here := map[string]bool{}
			for _, o := range view.ObjectsInNamespace(at.gk, at.ns) {
				key := objectKey(at.gk, o)
				here[key], seen[key] = true, true
				vs.check(snap, key, ch, touched, stats)
			}
			for key := range vs.byNS[at] {
				if !here[key] {
					vs.drop(snap, key)
				}
			}
		}
		for key := range touched {
			if seen[key] || vs.byKey[key] == nil {
				continue
			}
			if !vs.check(snap, key, ch, touched, stats) {
				// Gone, though its namespace's list did not say so: look at all.
				ch = changeSet{full: true}
				break
			}
		}
		if !ch.full {
			n := 0
			for _, gk := range kinds {
				n += len(view.ObjectsOfKind(gk))
			}
			if n == len(vs.byKey) {
				return
			}
		}
	}
	// Every object, as without change sets.
	keep := map[string]bool{}
	for _, gk := range kinds {
		for _, o := range view.ObjectsOfKind(gk) {
			key := objectKey(gk, o)
			keep[key] = true
			vs.check(snap, key, ch, touched, stats)
		}
	}
	for key := range vs.byKey {
		if !keep[key] {
			vs.drop(snap, key)
		}
	}
}

// diagnostics are the findings of every verdict, by object.
func (vs *verdicts) diagnostics() []model.Diagnostic {
	keys := make([]string, 0, len(vs.withDiags))
	for k := range vs.withDiags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []model.Diagnostic
	for _, k := range keys {
		out = append(out, vs.byKey[k].diags...)
	}
	return out
}

// validate runs the core checks and every plugin's ObjectValidator, and
// returns the findings and the keys of objects to leave out. core and
// plugins (nil: no validator) hold the verdicts of the previous
// validation, updated here; ch is the change set from the snapshot they
// were made for.
func validate(reg *plugin.Registry, snap *model.Snapshot, core, plugins *verdicts, ch changeSet, stats *Stats) ([]model.Diagnostic, map[string]bool) {
	diags := unreadKinds(reg, snap)
	core.update(snap, ch, stats)
	diags = append(diags, core.diagnostics()...)
	if plugins != nil {
		plugins.update(snap, ch, stats)
		diags = append(diags, plugins.diagnostics()...)
	}
	rejected := map[string]bool{}
	for i := range diags {
		if diags[i].Severity == model.SeverityError && diags[i].Object.Kind != "" {
			rejected[diags[i].Object.Key()] = true
		}
	}
	return diags, rejected
}

func safeValidate(v plugin.ObjectValidator, ctx *plugin.ValidateContext, o model.ObjectInfo) (out []model.Diagnostic) {
	defer func() {
		if r := recover(); r != nil {
			out = []model.Diagnostic{{Severity: model.SeverityError, Object: o.Ref, Reason: "PluginPanic", Plugin: ctx.Plugin(),
				Message: fmt.Sprintf("plugin panicked while validating: %v; the object is left out, report this to the plugin's authors", r)}}
		}
	}()
	out = v.ValidateObject(ctx, o)
	for i := range out {
		out[i].Plugin = ctx.Plugin()
		if out[i].Object.Kind == "" {
			out[i].Object = o.Ref
		}
	}
	return out
}

// protocolCheck reports a routing object whose hosts have no port any
// plugin handles: nothing would ever apply it.
func protocolCheck(reg *plugin.Registry, view *model.View, ns string, hosts []string, ref model.ObjectRef) []model.Diagnostic {
	var out []model.Diagnostic
	for i, h := range hosts {
		svc := view.LookupService(h, ns)
		if svc == nil {
			continue
		}
		claimed := false
		for _, p := range svc.Ports {
			if reg.ForPort(p) != nil {
				claimed = true
				break
			}
		}
		if claimed {
			continue
		}
		// The message's list of ports, made only for the error.
		ports := make([]string, 0, len(svc.Ports))
		for _, p := range svc.Ports {
			ports = append(ports, fmt.Sprintf("%s (protocol %q)", p, p.Protocol))
		}
		sort.Strings(ports)
		out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: fmt.Sprintf("spec.hosts[%d]", i), Reason: conditions.ReasonUnsupportedProtocol,
			Message: fmt.Sprintf("no plugin handles any port of %s (%s); name the port tcp-metaprotocol-<protocol> or set appProtocol, for a protocol one of the plugins claims (%s)",
				svc.Hostname, strings.Join(ports, ", "), claimedProtocols(reg))})
	}
	return out
}

func claimedProtocols(reg *plugin.Registry) string {
	var out []string
	for _, p := range reg.Plugins() {
		for _, pr := range p.Protocols() {
			out = append(out, string(pr))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func hasErrors(ds []model.Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == model.SeverityError {
			return true
		}
	}
	return false
}

// unreadKinds reports the kinds the plugins bring that the snapshot was
// built without: its source was given model options not bound to the
// registry (plugin.Registry.Bind), so objects of those kinds were skipped
// as unknown and their plugins build as if there were none.
func unreadKinds(reg *plugin.Registry, snap *model.Snapshot) []model.Diagnostic {
	var out []model.Diagnostic
	for _, k := range reg.Kinds() {
		gk := k.GroupKind()
		if _, ok := snap.Kinds().Lookup(gk.Group, gk.Kind); ok {
			continue
		}
		out = append(out, model.Diagnostic{Severity: model.SeverityError, Reason: "KindNotRead", Plugin: reg.KindOwner(gk).Name(),
			Message: fmt.Sprintf("the snapshot was built without kind %s, which the plugin brings: its objects were skipped; build the source's model options with plugin.Registry.Bind", k)})
	}
	return out
}
