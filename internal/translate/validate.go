package translate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aeraki-ng/aeraki/api/conditions"
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
	deps  model.Deps
	diags []model.Diagnostic
}

// validate runs the core checks and every plugin's ObjectValidator, and
// returns the findings and the keys of objects to leave out. prev holds
// the core verdicts of the previous translation; the returned map is this
// one's. (Plugin validators run every time: they may read the model
// through lookups that are not tracked.) ch is the change set from the
// snapshot prev was checked against, idx the inverted index of prev's
// reads, kept in step with the returned map: a verdict whose reads include
// no changed key is kept without reading them.
func validate(reg *plugin.Registry, targets plugin.Targets, snap *model.Snapshot, prev map[string]*validated, ch changeSet, idx depIndex, stats *Stats) ([]model.Diagnostic, map[string]bool, map[string]*validated) {
	view := snap.View()
	diags := unreadKinds(reg, snap)
	next := make(map[string]*validated, len(prev))
	touched := idx.touched(ch)
	for _, mr := range view.AllMetaRouters() {
		ref := metaroute.RouterRef(mr)
		key := ref.Key()
		info, _ := snap.ObjectByKey(key)
		v := prev[key]
		valid, read := false, false
		if v != nil && v.rev == info.Revision {
			valid, read = stillValid(ch, touched, nil, key, v.deps, snap)
		}
		if read {
			stats.RecordsChecked++
		}
		if valid {
			next[key] = v
			diags = append(diags, v.diags...)
			continue
		}
		deps := model.Deps{}
		tracked := snap.TrackedView(deps)
		ds := metaroute.Validate(tracked, mr)
		if !hasErrors(ds) {
			ds = append(ds, protocolCheck(reg, tracked, mr.Namespace, mr.Spec.Hosts, ref)...)
		}
		if v := prev[key]; v != nil {
			idx.remove(key, v.deps)
		}
		idx.add(key, deps)
		next[key] = &validated{rev: info.Revision, deps: deps, diags: ds}
		diags = append(diags, ds...)
	}
	for k, v := range prev {
		if _, ok := next[k]; !ok {
			idx.remove(k, v.deps)
		}
	}
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
	return diags, rejected, next
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
