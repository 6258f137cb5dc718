package trace

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/hbonenames"
	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// ByIstiod marks a hop through config istiod generates (Hop.By), in a
// waypoint istiod serves: everything but the filters and routes of
// aeraki's EnvoyFilter patch.
const ByIstiod = "istiod"

// istiodWaypoints adds to proxies a model of every waypoint istiod serves
// (the plugin.IstiodWaypointModeler of the build's plugins) with aeraki's EnvoyFilters for it applied as
// istiod applies them (pilot/pkg/networking/core/envoyfilter/listener_patch.go:
// INSERT_BEFORE puts a filter before the matched tcp_proxy, REPLACE
// replaces it), and returns, by proxy id, the names of the filters
// aeraki's patches put in.
func istiodWaypoints(out *translate.Output, view *model.View, proxies map[string]*plugin.Proxy, profiles map[string]*profile.Profile) map[string]map[string]bool {
	marked := map[string]map[string]bool{}
	modeler := istiodModeler(out.Registry)
	if modeler == nil {
		return marked
	}
	for _, wp := range view.Waypoints() {
		if wp.ServedBy != model.ServedByIstiod {
			continue
		}
		id := hbonenames.WaypointID(wp.Namespace, wp.Name)
		ours := map[string]bool{}
		chains := patchedChains(out.EnvoyFilters, wp, ours)
		proxies[id] = modeler.IstiodWaypointModel(view, wp, func(svc *model.Service, port *model.Port) ([]*listenerv3.Filter, *listenerv3.Filter) {
			c := chains[istiodwaypoint.ChainName(svc.Hostname, port.Number)]
			return c.before, c.terminal
		})
		profiles[id] = profile.MustGet(profile.IstioProxy)
		for _, u := range out.Units {
			if u.IstiodWaypoint() && u.Waypoint == wp.Ref && u.Profile != nil {
				profiles[id] = u.Profile
				break
			}
		}
		marked[id] = ours
	}
	return marked
}

// istiodModeler is the plugin that models istiod's waypoints, or nil.
func istiodModeler(reg *plugin.Registry) plugin.IstiodWaypointModeler {
	if reg == nil {
		return nil
	}
	for _, p := range reg.Plugins() {
		if m, ok := p.(plugin.IstiodWaypointModeler); ok {
			return m
		}
	}
	return nil
}

// patch is what aeraki's EnvoyFilter does to one of istiod's chains.
type patch struct {
	before   []*listenerv3.Filter // inserted before tcp_proxy
	terminal *listenerv3.Filter   // replaces tcp_proxy; nil keeps it
}

// patchedChains reads the EnvoyFilters targeting wp, by the chain name
// each patch matches, and records the names of the filters they add.
func patchedChains(efs []*translate.EnvoyFilter, wp *model.Waypoint, ours map[string]bool) map[string]patch {
	out := map[string]patch{}
	for _, ef := range efs {
		if ef.Annotation(translate.WaypointAnnotation) != wp.Namespace+"/"+wp.Name {
			continue
		}
		msgs, err := ef.PatchMessages()
		if err != nil {
			continue // the translator validated it; nothing to apply
		}
		for i, p := range ef.Spec().GetConfigPatches() {
			f, ok := msgs[i].(*listenerv3.Filter)
			l := p.GetMatch().GetListener()
			if !ok || p.GetApplyTo() != networkingv1alpha3.EnvoyFilter_NETWORK_FILTER || l.GetName() != istiodwaypoint.MainInternal ||
				l.GetFilterChain().GetFilter().GetName() != istiodwaypoint.TCPProxyFilter {
				continue
			}
			name := l.GetFilterChain().GetName()
			ours[f.GetName()] = true
			ours[chainKey+name] = true
			c := out[name]
			switch p.GetPatch().GetOperation() {
			case networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE:
				c.before = append(c.before, f)
			case networkingv1alpha3.EnvoyFilter_Patch_REPLACE:
				if c.terminal == nil { // istiod replaces the first match; later REPLACEs find no tcp_proxy
					c.terminal = f
				}
			}
			out[name] = c
		}
	}
	return out
}

// chainKey prefixes, in the names markIstiodHops gets, the chains aeraki patched.
const chainKey = "chain:"

// markIstiodHops sets By on the hops of istiod-served waypoints that went
// through config istiod generated: all of them but aeraki's filters and
// the routes they matched.
func markIstiodHops(res *Result, istiod map[string]map[string]bool) {
	patched := false // in a chain aeraki patched, before the cluster it picks
	for i := range res.Hops {
		h := &res.Hops[i]
		ours, ok := istiod[h.Proxy]
		if !ok {
			patched = false
			continue
		}
		switch h.Step {
		case StepChain:
			patched = ours[chainKey+h.Name] // the chain is istiod's, its filters aeraki's
		case StepFilter:
			if patched && ours[h.Name] {
				continue
			}
		case StepRoute:
			if patched {
				continue
			}
		case StepCluster, StepStop, StepDeliver:
			patched = false
		}
		h.By = ByIstiod
	}
}
