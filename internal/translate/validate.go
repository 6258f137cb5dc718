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

// routingKinds are the objects plugins validate; the others (Services,
// Pods, ...) describe the mesh rather than configure it.
var routingKinds = map[string]bool{
	"MetaRouter": true, "ApplicationProtocol": true, "RedisService": true, "RedisDestination": true,
	"DubboAuthorizationPolicy": true, "VirtualService": true, "DestinationRule": true,
}

// validate runs the core checks and every plugin's ObjectValidator, and
// returns the findings and the keys of objects to leave out.
func validate(reg *plugin.Registry, snap *model.Snapshot) ([]model.Diagnostic, map[string]bool) {
	view := snap.View()
	var diags []model.Diagnostic
	for _, mr := range view.AllMetaRouters() {
		ds := metaroute.Validate(view, mr)
		if !hasErrors(ds) {
			ds = append(ds, protocolCheck(reg, view, mr.Namespace, mr.Spec.Hosts, metaroute.RouterRef(mr))...)
		}
		diags = append(diags, ds...)
	}
	objects := snap.Objects()
	for _, p := range reg.Plugins() {
		v, ok := p.(plugin.ObjectValidator)
		if !ok {
			continue
		}
		owner := p
		ctx := plugin.NewValidateContext(p.Name(), view, func(port *model.Port) bool {
			o := reg.ForPort(port)
			return o != nil && o.Name() == owner.Name()
		})
		for _, o := range objects {
			if !routingKinds[o.Ref.Kind] {
				continue
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
