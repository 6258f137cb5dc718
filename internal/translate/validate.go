package translate

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// validated is the core's verdict on one MetaRouter, kept while the
// router and everything the checks read (its hosts' services and subsets,
// recorded by a tracked view) are unchanged, so an edit does not
// revalidate every router of the mesh.
type validated struct {
	rev   model.Revision
	ns    string
	deps  model.Deps
	diags []model.Diagnostic
}

// gkMetaRouter is the kind the core checks.
var gkMetaRouter = schema.GroupKind{Group: metaprotocolv1alpha1.GroupName, Kind: "MetaRouter"}

// verdicts are the core's verdicts on every MetaRouter of the snapshot
// last validated, updated in place by each validation (which is always
// kept, even when the translation is stopped later).
//
// With a change set, only the routers whose verdict read a changed key
// (the inverted index) and those of the namespaces whose list of routers
// changed are looked at: a router added, edited or deleted changes its
// namespace's list (a dependency key, found here by reading the list
// through a tracked view once per namespace). A router in a namespace
// that had none is not in a known namespace: the count of routers then
// differs from the count of verdicts, and every router is looked at.
type verdicts struct {
	byKey     map[string]*validated
	byNS      map[string]map[string]bool // namespace -> router keys
	nsOfKey   map[string]string          // dependency key of a namespace's routers -> namespace
	withDiags map[string]bool            // routers whose verdict has findings
	idx       depIndex                   // the inverted index of the verdicts' reads
}

func newVerdicts() *verdicts {
	return &verdicts{byKey: map[string]*validated{}, byNS: map[string]map[string]bool{}, nsOfKey: map[string]string{}, withDiags: map[string]bool{}, idx: depIndex{}}
}

// check looks at one router: its verdict is kept when its revision and
// its recorded reads are unchanged, else the checks run again.
func (vs *verdicts) check(reg *plugin.Registry, snap *model.Snapshot, mr *metaprotocolv1alpha1.MetaRouter, key string, ch changeSet, touched map[string]bool, stats *Stats) {
	stats.RoutersLookedAt++
	info, _ := snap.ObjectByKey(key)
	v := vs.byKey[key]
	valid, read := false, false
	if v != nil && v.rev == info.Revision {
		valid, read = stillValid(ch, touched, nil, key, v.deps, snap)
	}
	if read {
		stats.RecordsChecked++
	}
	if valid {
		return
	}
	ref := metaroute.RouterRef(mr)
	deps := model.Deps{}
	tracked := snap.TrackedView(deps)
	ds := metaroute.Validate(tracked, mr)
	if !hasErrors(ds) {
		ds = append(ds, protocolCheck(reg, tracked, mr.Namespace, mr.Spec.Hosts, ref)...)
	}
	if v != nil {
		vs.idx.remove(key, v.deps)
	}
	vs.idx.add(key, deps)
	vs.byKey[key] = &validated{rev: info.Revision, ns: mr.Namespace, deps: deps, diags: ds}
	if vs.byNS[mr.Namespace] == nil {
		vs.byNS[mr.Namespace] = map[string]bool{}
		d := model.Deps{}
		snap.TrackedView(d).ObjectsInNamespace(gkMetaRouter, mr.Namespace)
		for k := range d {
			vs.nsOfKey[k] = mr.Namespace
		}
	}
	vs.byNS[mr.Namespace][key] = true
	if len(ds) > 0 {
		vs.withDiags[key] = true
	} else {
		delete(vs.withDiags, key)
	}
}

// drop forgets the verdict on a router that is gone.
func (vs *verdicts) drop(key string) {
	v := vs.byKey[key]
	if v == nil {
		return
	}
	vs.idx.remove(key, v.deps)
	delete(vs.byKey, key)
	delete(vs.withDiags, key)
	if l := vs.byNS[v.ns]; l != nil {
		delete(l, key)
		if len(l) == 0 {
			delete(vs.byNS, v.ns)
		}
	}
}

// update brings the verdicts to snap, ch being the change set from the
// snapshot they were made for.
func (vs *verdicts) update(reg *plugin.Registry, snap *model.Snapshot, ch changeSet, stats *Stats) {
	all := snap.View().AllMetaRouters()
	touched := vs.idx.touched(ch)
	if !ch.full {
		seen := map[string]bool{}
		namespaces := map[string]bool{}
		for _, k := range ch.keys {
			if ns, ok := vs.nsOfKey[k]; ok {
				namespaces[ns] = true
			}
		}
		view := snap.View()
		for ns := range namespaces {
			here := map[string]bool{}
			for _, o := range view.ObjectsInNamespace(gkMetaRouter, ns) {
				mr := o.(*metaprotocolv1alpha1.MetaRouter)
				key := metaroute.RouterRef(mr).Key()
				here[key], seen[key] = true, true
				vs.check(reg, snap, mr, key, ch, touched, stats)
			}
			for key := range vs.byNS[ns] {
				if !here[key] {
					vs.drop(key)
				}
			}
		}
		for key := range touched {
			if seen[key] || vs.byKey[key] == nil {
				continue
			}
			info, ok := snap.ObjectByKey(key)
			mr, isRouter := info.Object.(*metaprotocolv1alpha1.MetaRouter)
			if !ok || !isRouter {
				vs.drop(key) // gone, though its namespace's list did not say so: look at all
				ch = changeSet{full: true}
				break
			}
			vs.check(reg, snap, mr, key, ch, touched, stats)
		}
		if !ch.full && len(all) == len(vs.byKey) {
			return
		}
	}
	// Every router, as without change sets.
	keep := make(map[string]bool, len(all))
	for _, mr := range all {
		key := metaroute.RouterRef(mr).Key()
		keep[key] = true
		vs.check(reg, snap, mr, key, ch, touched, stats)
	}
	for key := range vs.byKey {
		if !keep[key] {
			vs.drop(key)
		}
	}
}

// diagnostics are the findings of every verdict, by router.
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
// returns the findings and the keys of objects to leave out. vs holds the
// core verdicts of the previous validation, updated here (ch is the
// change set from the snapshot they were made for). (Plugin validators
// run every time: they may read the model through lookups that are not
// tracked.)
func validate(reg *plugin.Registry, targets plugin.Targets, snap *model.Snapshot, vs *verdicts, ch changeSet, stats *Stats) ([]model.Diagnostic, map[string]bool) {
	view := snap.View()
	diags := unreadKinds(reg, snap)
	vs.update(reg, snap, ch, stats)
	diags = append(diags, vs.diagnostics()...)
	var objects []model.ObjectInfo // sorted once, for the first validator: a sort of the whole mesh
	for _, p := range reg.Plugins() {
		v, ok := p.(plugin.ObjectValidator)
		if !ok {
			continue
		}
		if objects == nil {
			objects = snap.Objects()
		}
		owner := p
		ctx := plugin.NewValidateContext(p.Name(), view, func(port *model.Port) bool {
			o := reg.ForPort(port)
			return o != nil && o.Name() == owner.Name()
		})
		ctx.Targets = targets
		for _, o := range objects {
			if k, ok := snap.Kinds().Lookup(o.Ref.Group, o.Ref.Kind); !ok || !k.Routing {
				continue // describes the mesh rather than configures it
			}
			diags = append(diags, safeValidate(v, ctx, o)...)
		}
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
		var ports []string
		for _, p := range svc.Ports {
			if reg.ForPort(p) != nil {
				claimed = true
			}
			ports = append(ports, fmt.Sprintf("%s (protocol %q)", p, p.Protocol))
		}
		if claimed {
			continue
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
