package translate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Unit is the config one plugin built for one service port in one role.
type Unit struct {
	// Key is "<role>|<hostname>|<port>".
	Key string
	// Plugin is the name of the plugin that built it.
	Plugin string
	// Role is the proxy role.
	Role plugin.Role
	// Service and Port are what was built.
	Service *model.Service
	Port    *model.Port
	// Waypoint names the waypoint Gateway for RoleWaypoint units.
	Waypoint model.ObjectRef
	// ServedBy says who serves that waypoint: aeraki (the unit is part of
	// a proxy aeraki builds) or istiod (the unit becomes an EnvoyFilter
	// targeting the waypoint's Gateway).
	ServedBy model.WaypointServer
	// Profile is the build the unit was built for and checked against.
	Profile *profile.Profile
	// RouteConfig is the plugin's route table, if it has one and it goes
	// out on its own: a chain handed to a proxy builder carries it. A unit
	// whose filters become EnvoyFilter patches keeps none (nil), since
	// the table goes out only inside the filter that carries it (see the
	// gates in build), and holding a route table per sidecar unit was a
	// tenth of what a running server kept for the mesh.
	RouteConfig proto.Message
	// Filters are the network filters that replace tcp_proxy.
	Filters []*listenerv3.Filter
	// FailedClosed is true when the plugin failed and no earlier good
	// config exists: the port refuses connections.
	FailedClosed bool
	// Stale is true when the plugin failed and the last good config is
	// kept instead.
	Stale bool
	// secret is true when the filters or cluster patches hold a credential
	// (xds.HasSecret), worked out once per build.
	secret bool
	// structs are the Structs EnvoyFilter patches carry for Filters
	// (filterStruct), worked out on the build workers, once for all the
	// units whose output is the same.
	structs []filterStruct
	// Skipped is true when the plugin left the port at L4 in this role
	// (plugin.ErrSkipPort): nothing is patched and Filters is empty.
	Skipped bool
	// ClusterPatches are what a ClusterPatcher plugin merges into the
	// port's upstream clusters (outbound and waypoint roles).
	ClusterPatches []ClusterPatch
	// ByCaller is set on waypoint units built for a proxy that picks the
	// port's chain by caller class; Caller is the class (nil: every other
	// caller).
	ByCaller bool
	Caller   *plugin.Caller
	// Callers are the classes a CallerClassifier plugin asked for, on the
	// ByCaller unit with no Caller: the proxy gets a unit per class.
	Callers []plugin.Caller
	// Objects are the objects the unit was built from (the service, its
	// MetaRouters and VirtualServices).
	Objects []model.ObjectRef
	// Diagnostics are what the plugin reported, and its failure if any.
	Diagnostics []model.Diagnostic
	// Revision is a hash of the output, for versions.
	Revision model.Revision
}

// filterStruct is a filter's patch value, with the filter it was made
// from.
type filterStruct struct {
	filter *listenerv3.Filter
	sharedStruct
}

// sharedStruct is a filter's patch value (its encoding, and the Struct
// decoded from it when the spec is read: patchValue, structwire.go), which
// units with equal filters share.
type sharedStruct struct {
	*patchValue
}

// filterStruct is the Struct an EnvoyFilter patch carries for the unit's
// i-th filter: the one worked out by the build (empty until the
// EnvoyFilter's Spec is read, lazyValues), or made now. Units with the same
// output share one: it must not be modified.
func (u *Unit) filterStruct(i int) *structpb.Struct {
	f := u.Filters[i]
	if i < len(u.structs) && u.structs[i].filter == f {
		return u.structs[i].stub
	}
	return toStruct(f)
}

// structsOf makes the patch values of filters for filterStruct, decoding
// Any values through unpacked; shared, when not nil, are those of another
// unit's equal filters.
func structsOf(filters []*listenerv3.Filter, shared []sharedStruct, unpacked *xds.Unpacked, wires *sync.Pool) []filterStruct {
	out := make([]filterStruct, len(filters))
	for i, f := range filters {
		out[i].filter = f
		if i < len(shared) {
			out[i].sharedStruct = shared[i]
			continue
		}
		out[i].patchValue = newPatchValue(f, unpacked, wires)
	}
	return out
}

type unitKey struct {
	key      string
	role     plugin.Role
	host     string
	port     uint32
	plugin   plugin.Plugin
	waypoint model.ObjectRef
	servedBy model.WaypointServer // for RoleWaypoint: who serves the waypoint
	profile  *profile.Profile
	byCaller bool
	caller   *plugin.Caller
}

// patchesEnvoyFilter reports whether the unit's filters become EnvoyFilter
// patches (sidecars, waypoints istiod serves), which carry them as Structs.
func (k unitKey) patchesEnvoyFilter() bool {
	return k.role == plugin.RoleSidecarOutbound || k.role == plugin.RoleSidecarInbound || k.servedBy == model.ServedByIstiod
}

type unit struct {
	*Unit
	key  string
	deps model.DepSet // what its build read (sealed: the collector does not scan it)
	good bool         // holds output that passed validation: fresh, or kept (stale) from an earlier build
}

// planUnits lists the units a snapshot needs: every role of every service
// port a plugin with a NetworkFilterBuilder claims.
func planUnits(reg *plugin.Registry, targets plugin.Targets, snap *model.Snapshot) []unitKey {
	var out []unitKey
	view := snap.View()
	istiod := hasIstiodWaypoint(view) // else no binding lookups per service
	for _, svc := range view.Services() {
		var wp *model.Waypoint
		if istiod {
			wp = istiodWaypointOf(view, svc)
		}
		for _, port := range svc.Ports {
			p := reg.ForPort(port)
			if p == nil {
				continue
			}
			if _, ok := p.(plugin.NetworkFilterBuilder); !ok {
				continue
			}
			for _, role := range []plugin.Role{plugin.RoleSidecarOutbound, plugin.RoleSidecarInbound} {
				out = append(out, unitKey{key: UnitKey(role, svc.Hostname, port.Number), role: role, host: svc.Hostname, port: port.Number, plugin: p, profile: targets.ForRole(role)})
			}
			if wp != nil {
				out = append(out, unitKey{key: WaypointUnitKey(wp.Ref, svc.Hostname, port.Number), role: plugin.RoleWaypoint, host: svc.Hostname, port: port.Number,
					plugin: p, waypoint: wp.Ref, servedBy: model.ServedByIstiod, profile: targets.ForIstioWaypoint()})
			}
		}
	}
	if cap(out)-len(out) > len(out)/16 {
		// The plan is kept until the services change: not with the
		// quarter of unused room append's last growth left (the collector
		// marks a slice's whole array).
		out = slices.Clone(out)
	}
	return out
}

// WaypointUnitKey names the unit of a service port in a waypoint's chain:
// "waypoint/<ns>/<name>|<hostname>|<port>".
func WaypointUnitKey(wp model.ObjectRef, host string, port uint32) string {
	return plugin.RoleWaypoint.String() + "/" + wp.Namespace + "/" + wp.Name + "|" + host + "|" + strconv.FormatUint(uint64(port), 10)
}

// UnitKey names the unit for a role, host and port.
func UnitKey(role plugin.Role, host string, port uint32) string {
	return role.String() + "|" + host + "|" + strconv.FormatUint(uint64(port), 10)
}

// buildUnits builds or reuses the planned units through the cache.
func buildUnits(ctx context.Context, c *unitCache, keys []unitKey, workers int) {
	parallel(ctx, len(keys), workers, func(i int) { c.get(keys[i]) })
}

// build runs one plugin for one unit, catching panics, and puts its output
// through the validation gate.
func (t *Translator) build(snap *model.Snapshot, k unitKey, prev *unit) *unit {
	deps, _ := t.recorders.Get().(model.Deps)
	if deps == nil {
		deps = model.Deps{}
	}
	view := snap.TrackedView(deps)
	u := t.buildTracked(view, k, prev)
	view.Untrack()
	u.deps = deps.Seal()
	clear(deps)
	t.recorders.Put(deps)
	return u
}

// buildTracked is build reading the snapshot through view, which records
// the reads.
func (t *Translator) buildTracked(view *model.View, k unitKey, prev *unit) *unit {
	svc := view.Service(k.host)
	port := svc.Port(k.port)
	ctx := plugin.NewBuildContext(k.plugin.Name(), view, k.role, svc, port)
	ctx.Profile = k.profile
	if t.opts.Log.GetSink() != nil {
		// (A discarding logger takes no values: making them was two
		// allocations per unit.)
		ctx.Log = t.opts.Log.WithValues("plugin", k.plugin.Name(), "service", k.host, "port", k.port, "role", k.role.String(), "profile", k.profile.Name)
	} else {
		ctx.Log = t.opts.Log
	}
	if k.role != plugin.RoleSidecarInbound {
		// Inbound chains deliver to the local workload: routers do not
		// apply, and reading them would make inbound depend on them.
		ctx.MetaRouters = view.MetaRouters(k.host)
	}
	ctx.Waypoint = k.waypoint
	ctx.WaypointServedBy = k.servedBy
	ctx.ByCaller, ctx.Caller = k.byCaller, k.caller

	// The unit and its Unit live as long as each other (the cache keeps
	// the one, the output the other): allocated together.
	both := &struct {
		unit
		out Unit
	}{}
	both.out = Unit{Key: k.key, Plugin: k.plugin.Name(), Role: k.role, Service: svc, Port: port, Waypoint: k.waypoint, ServedBy: k.servedBy, Profile: k.profile,
		ByCaller: k.byCaller, Caller: k.caller}
	u := &both.unit
	*u = unit{key: k.key, Unit: &both.out}
	var vss []*networkingv1.VirtualService
	if !port.Meta && k.role != plugin.RoleSidecarInbound {
		vss = view.VirtualServices(k.host)
	}
	u.Objects = make([]model.ObjectRef, 0, 1+len(ctx.MetaRouters)+len(vss))
	u.Objects = append(u.Objects, svc.Ref)
	for _, mr := range ctx.MetaRouters {
		u.Objects = append(u.Objects, metaroute.RouterRef(mr))
	}
	for _, vs := range vss {
		u.Objects = append(u.Objects, metaroute.VirtualServiceRef(vs))
	}

	// The gates and the secret check below walk the same filters: each Any
	// in them is decoded once for all of them, and one the plugin packed
	// through ctx.Pack is not decoded at all (its message is read).
	// Nothing keeps unpacked past the build.
	unpacked := t.reach.Unpacked()
	ctx.Packed = unpacked
	defer func() { ctx.Packed = nil; unpacked.Release() }()
	rc, filters, err := runPlugin(k.plugin, ctx)
	if errors.Is(err, plugin.ErrSkipPort) {
		u.Diagnostics, u.Skipped, u.good = ctx.Reports(), true, true
		u.Revision = model.RevisionOf("skipped|" + k.key)
		return u
	}
	// The gates' verdicts are reused for an output already checked
	// (verdict.go); the plugins' own calls (the patcher) always run.
	// gated is the route table as the gates see it: nil for a unit whose
	// filters become EnvoyFilter patches, where the route table goes out
	// only inside the filter that carries it (the built-in plugins embed
	// ctx.RouteConfig in their filter), and the filter's walk checks
	// every byte of it there; checking it on its own too would only
	// repeat that. A chain handed to a ProxyBuilder (proxy.go) carries
	// the route table itself, so it is checked there.
	gated := rc
	if k.patchesEnvoyFilter() {
		gated = nil
	}
	var fd, od digest
	cacheable := false
	var filtersSecret bool // the filters hold a credential (found by the gate's walk)
	if err == nil {
		if fd, cacheable = t.gates.filtersDigest(gated, filters); cacheable {
			var seen bool
			if filtersSecret, err, seen = t.gates.gateVerdict(fd); !seen {
				filtersSecret, err = gate(gated, filters, unpacked)
				t.gates.putGate(fd, filtersSecret, err)
			}
		} else {
			filtersSecret, err = gate(gated, filters, unpacked)
		}
	}
	var patches []ClusterPatch
	if err == nil {
		patches, err = runPatcher(k.plugin, ctx, t.reach)
	}
	var lbWarnings []model.Diagnostic
	if err == nil && k.servedBy == model.ServedByIstiod && len(patches) > 0 {
		patches, lbWarnings, err = istiodClusterPatches(k.plugin.Name(), svc, k.waypoint, patches)
	}
	var warnings []model.Diagnostic
	var secret bool
	if err == nil {
		if cacheable {
			od, cacheable = t.gates.outputDigest(fd, patches)
		}
		vk := unitVerdictKey{output: od, profile: k.profile}
		var v *unitVerdict
		if cacheable {
			v = t.gates.unitVerdict(vk)
		}
		if v != nil && k.patchesEnvoyFilter() {
			// A second unit with this output: its Structs are shared from
			// now on (kept only for outputs seen twice, so that the cache
			// holds no Structs of outputs no other unit has).
			u.structs = t.gates.sharedStructs(vk, v, filters, unpacked, &t.wires)
		}
		if v == nil {
			v = &unitVerdict{}
			v.refused, v.warned = t.fidelityFindings(k.profile, filters, patches, gated, unpacked)
			if len(v.refused) == 0 {
				v.secret = filtersSecret || patchesHoldSecret(patches, unpacked)
			}
			if cacheable {
				t.gates.putUnit(vk, v)
			}
		}
		warnings, err = fidelityDiagnostics(k.profile, svc, k.role, u.Objects, v.refused, v.warned)
		secret = v.secret
	}
	u.Diagnostics = append(ctx.Reports(), warnings...)
	if k.servedBy == model.ServedByIstiod {
		u.Diagnostics = append(u.Diagnostics, lbWarnings...)
		u.Diagnostics = append(u.Diagnostics, istiodPortWarnings(k.plugin.Name(), svc, port, k.waypoint)...)
		if err == nil {
			u.Diagnostics = append(u.Diagnostics, istiodClusterWarnings(view, k.plugin.Name(), svc, k.waypoint, filters)...)
		}
	}
	if err != nil {
		d := failure(k.plugin.Name(), svc, port, k.role, k.profile, err)
		if prev != nil && prev.good {
			d.Message += "; the last good config is kept"
			u.RouteConfig, u.Filters, u.Stale, u.Revision = prev.RouteConfig, prev.Filters, true, prev.Revision
			u.ClusterPatches, u.Skipped, u.secret, u.structs = prev.ClusterPatches, prev.Skipped, prev.secret, prev.structs
			u.good = true // still the last good output: a second failure keeps it too
		} else {
			d.Message += "; the port fails closed (connections are refused) until this is fixed"
			u.FailedClosed = true
			u.Revision = model.RevisionOf("failed-closed|" + k.key)
		}
		u.Diagnostics = append(u.Diagnostics, d)
		t.opts.Log.Error(err, "plugin build failed", "plugin", k.plugin.Name(), "service", k.host, "port", k.port, "role", k.role.String())
		return u
	}
	u.RouteConfig, u.Filters, u.ClusterPatches, u.good = gated, filters, patches, true
	if u.structs == nil && k.patchesEnvoyFilter() {
		u.structs = structsOf(filters, nil, unpacked, &t.wires)
	}
	if cacheable {
		u.Revision = od.revision()
	} else {
		u.Revision = revisionOf(rc, filters, patches)
	}
	if k.byCaller && k.caller == nil {
		u.Callers = runClassifier(k.plugin, ctx)
		for _, c := range u.Callers {
			u.Revision = model.RevisionOf(string(u.Revision) + "|" + c.String())
		}
	}
	u.secret = secret
	return u
}

// runClassifier asks a CallerClassifier plugin for the caller classes of
// the port; a panic means none (the default chain serves every caller).
func runClassifier(p plugin.Plugin, ctx *plugin.BuildContext) (out []plugin.Caller) {
	cc, ok := p.(plugin.CallerClassifier)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			out = nil
		}
	}()
	return cc.CallerClasses(ctx)
}

func runPatcher(p plugin.Plugin, ctx *plugin.BuildContext, r *xds.Reach) (patches []ClusterPatch, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugin panicked patching clusters: %v", r)
		}
	}()
	return patchClusters(p, ctx, r)
}

func runPlugin(p plugin.Plugin, ctx *plugin.BuildContext) (rc proto.Message, filters []*listenerv3.Filter, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugin panicked: %v", r)
		}
	}()
	if rb, ok := p.(plugin.RouteConfigBuilder); ok {
		if rc, err = rb.BuildRouteConfig(ctx); err != nil {
			return nil, nil, err
		}
		ctx.RouteConfig = rc
	}
	nb := p.(plugin.NetworkFilterBuilder)
	if filters, err = nb.BuildNetworkFilters(ctx); err != nil {
		return nil, nil, err
	}
	if len(filters) == 0 {
		return nil, nil, errors.New("plugin built no network filter")
	}
	return rc, filters, nil
}

// gate is the validation gate: nothing that fails Envoy's own validation
// (including messages packed in Any) leaves the translator. The walk of
// each filter also finds whether it holds a credential (secret, what
// xds.HasSecret of the filters gives), which the secret check (holdsSecret)
// would otherwise walk the filters again for.
func gate(rc proto.Message, filters []*listenerv3.Filter, unpacked *xds.Unpacked) (secret bool, err error) {
	var errs []error
	if rc != nil {
		if err := unpacked.Validate(rc); err != nil {
			errs = append(errs, fmt.Errorf("route config: %w", err))
		}
	}
	for i, f := range filters {
		s, err := unpacked.ValidateAndHasSecret(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("filter %d (%s): %w", i, f.GetName(), err))
		}
		secret = secret || s
	}
	if len(errs) > 0 {
		return secret, fmt.Errorf("generated config failed validation: %w", errors.Join(errs...))
	}
	return secret, nil
}

func failure(pluginName string, svc *model.Service, port *model.Port, role plugin.Role, p *profile.Profile, err error) model.Diagnostic {
	d := model.Diagnostic{Severity: model.SeverityError, Object: svc.Ref, Reason: "PluginError", Plugin: pluginName}
	var pe *plugin.Error
	var fe *fidelityError
	switch {
	case errors.As(err, &fe):
		d.Reason = fe.findings[0].Reason
	case errors.As(err, &pe):
		d = pe.Diagnostic()
	}
	d.Message = fmt.Sprintf("building %s port %s for %s (proxy build %s): %s", svc.Hostname, port, role, p.Name, causeText(err))
	return d
}

// causeText is err's text without what the diagnostic already says: a
// plugin.Error renders "plugin <name>: <object>: <cause>" and a wrapped
// model.Diagnostic its object and plugin, which the diagnostic carries in
// its own fields (and prints once).
func causeText(err error) string {
	text := err.Error()
	var pe *plugin.Error
	if errors.As(err, &pe) {
		text = strings.Replace(text, pe.Error(), bareText(pe.Err), 1)
	} else {
		text = bareText(err)
	}
	return strings.TrimSpace(text)
}

// bareText is a model.Diagnostic's field and message, or err's text.
func bareText(err error) string {
	var d model.Diagnostic
	if errors.As(err, &d) && err.Error() == d.Error() {
		if d.Field != "" {
			return d.Field + ": " + d.Message
		}
		return d.Message
	}
	return err.Error()
}

func revisionOf(rc proto.Message, filters []*listenerv3.Filter, patches []ClusterPatch) model.Revision {
	h := newRevisionHash()
	if rc != nil {
		h.message(rc)
	}
	for _, f := range filters {
		h.message(f)
	}
	for _, p := range patches {
		h.bytes([]byte(p.Name))
		h.message(p.Patch)
	}
	return h.revision()
}

// sortUnits orders units by key.
func sortUnits(us []*Unit) {
	sort.Slice(us, func(i, j int) bool { return us[i].Key < us[j].Key })
}

// parallel runs fn(0..n-1) on up to workers goroutines. When ctx ends it
// hands out no more indexes and returns once the running calls are done;
// the caller checks ctx.
func parallel(ctx context.Context, n, workers int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < max(1, min(workers, n)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
dispatch:
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(work)
	wg.Wait()
}

// A unit's output carries a credential when its filters do (which the
// validation gate finds: gate) or its cluster patches do
// (patchesHoldSecret): its EnvoyFilter is then kept off the plaintext MCP
// address and shown redacted. Asking the protos is far cheaper than
// redacting the EnvoyFilter's Struct patches to see whether anything
// changes.

// patchesHoldSecret reports whether a cluster patch holds a credential.
func patchesHoldSecret(patches []ClusterPatch, unpacked *xds.Unpacked) bool {
	for _, p := range patches {
		if unpacked.HasSecret(p.Patch) {
			return true
		}
	}
	return false
}
