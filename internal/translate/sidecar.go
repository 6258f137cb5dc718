package translate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Names Istio gives the things sidecar patches match.
const (
	tcpProxyFilter        = "envoy.filters.network.tcp_proxy"
	virtualInboundName    = "virtualInbound"
	wildcardAddress       = "0.0.0.0"
	rbacFilterName        = "envoy.filters.network.rbac"
	managedByLabel        = "app.kubernetes.io/managed-by"
	managedByValue        = "aeraki"
	sourceAnnotation      = "aeraki.io/source"
	servicePortAnnotation = "aeraki.io/service"
	// ProfileAnnotation names the proxy build (profile) an EnvoyFilter was
	// built and checked for, so kubectl shows what sidecars must run.
	ProfileAnnotation = "aeraki.io/proxy-build"
)

// EnvoyFilter is one Istio EnvoyFilter aeraki hands istiod.
type EnvoyFilter struct {
	// Namespace and Name of the EnvoyFilter.
	Namespace, Name string
	// Labels to put on the object. They must not be modified: the
	// EnvoyFilters of one translation share one map.
	Labels map[string]string
	// annotations are those to put on the object (Annotation,
	// EachAnnotation), packed in one string (annotations.go).
	annotations string
	// spec is the EnvoyFilter itself (Spec), whose patch values from the
	// units are lazy's stubs until it is read. An assembled EnvoyFilter
	// keeps only its encoding (enc, seal): spec is nil, and Spec decodes
	// it.
	spec *networkingv1alpha3.EnvoyFilter
	lazy []*patchValue
	// Sources are the objects it was built from. They must not be
	// modified: an EnvoyFilter of one unit shares that unit's list.
	Sources []model.ObjectRef
	// Revision is a content hash, used as the MCP resource version.
	Revision model.Revision
	// Secret is true when a patch carries a credential (a Redis password):
	// the EnvoyFilter is sent to istiod only over TLS (or with
	// --insecure-plaintext-credentials) and shown redacted
	// (RedactEnvoyFilter returns a changed copy exactly when it is set).
	Secret bool
	// enc is the encoding of the Spec at assembly (EncodedSpec,
	// specenc.go); nil when it did not encode.
	enc *specEncoding
	key string // Key, when assembled
}

// Spec is the EnvoyFilter itself. An assembled EnvoyFilter's is decoded
// from its encoding when read (the publisher sends EncodedSpec and never
// needs it; render, debug output and tests do), and the decoding is kept
// only while a caller holds it: the spec must not be modified.
func (e *EnvoyFilter) Spec() *networkingv1alpha3.EnvoyFilter {
	if e.spec == nil && e.enc != nil {
		return e.enc.decoded()
	}
	for _, p := range e.lazy {
		p.materialize()
	}
	return e.spec
}

// NewEnvoyFilter is an EnvoyFilter of spec, for tests and tools that build
// one by hand.
func NewEnvoyFilter(namespace, name string, spec *networkingv1alpha3.EnvoyFilter) *EnvoyFilter {
	return &EnvoyFilter{Namespace: namespace, Name: name, spec: spec}
}

// Ref is the EnvoyFilter's ObjectRef.
func (e *EnvoyFilter) Ref() model.ObjectRef {
	return model.ObjectRef{Group: "networking.istio.io", Kind: "EnvoyFilter", Namespace: e.Namespace, Name: e.Name}
}

// assembled is an EnvoyFilter with the units it was assembled from. A
// later translation whose units for the same EnvoyFilter are the very same
// (reused, unchanged) takes it as is: assembling converts every filter to
// a Struct through JSON, which would otherwise make every change cost as
// much as translating the whole mesh.
type assembled struct {
	units []*Unit
	ef    *EnvoyFilter
}

// reuseAssembled returns the EnvoyFilter under key ("<namespace>/<name>",
// envoyFilterKey) of units (sorted here by port): the previous
// translation's when prev assembled it from the same units, else a new
// one from build, which keeps key as its Key. Either way next records it.
func reuseAssembled(prev, next map[string]*assembled, key string, units []*Unit, build func() *EnvoyFilter) *EnvoyFilter {
	sortByPort(units)
	if a := prev[key]; a != nil && slices.Equal(a.units, units) {
		next[key] = a
		return a.ef
	}
	a := &assembled{units: units, ef: build()}
	a.ef.key = key
	next[key] = a
	return a.ef
}

// Key is "<namespace>/<name>", what istiod names the EnvoyFilter by (and
// the publisher keys it by): an assembled EnvoyFilter's is made once and
// shared by every map that holds it, its Name a part of it.
func (e *EnvoyFilter) Key() string {
	if k, ns := e.key, e.Namespace; len(k) == len(ns)+1+len(e.Name) && k[:len(ns)] == ns && k[len(ns)+1:] == e.Name {
		return k
	}
	return e.Namespace + "/" + e.Name
}

// sidecarEnvoyFilters assembles, for every service with plugin-built
// ports, one outbound EnvoyFilter in the root namespace that patches every
// sidecar's listener for the service, and one inbound EnvoyFilter in the
// service's namespace that patches the virtualInbound chain of the pods
// the service selects, in no order (the caller sorts them with the
// waypoints' ones). prev is the previous translation's assembly; next
// records this one's.
func sidecarEnvoyFilters(ctx context.Context, snap *model.Snapshot, units []*Unit, prev, next map[string]*assembled) ([]*EnvoyFilter, []model.Diagnostic) {
	type group struct {
		svc      *model.Service
		outbound []*Unit
		inbound  []*Unit
	}
	groups := map[string]*group{}
	for _, u := range units {
		if u.Skipped {
			continue // left at L4: istiod's tcp_proxy stays
		}
		g := groups[u.Service.Hostname]
		if g == nil {
			g = &group{svc: u.Service}
			groups[u.Service.Hostname] = g
		}
		switch u.Role {
		case plugin.RoleSidecarOutbound:
			g.outbound = append(g.outbound, u)
		case plugin.RoleSidecarInbound:
			g.inbound = append(g.inbound, u)
		}
	}
	diags := sharedWildcardListeners(groupList(groups, func(g *group) *model.Service { return g.svc }), func(svc *model.Service) *[]*Unit { return &groups[svc.Hostname].outbound })
	root := snap.Options().RootNamespace
	as := newAssembler()
	outbound, inbound := withClusterPatches(as.arena.outboundPatches), as.arena.inboundPatches
	var out []*EnvoyFilter
	for _, g := range groups {
		if ctx.Err() != nil {
			return nil, nil // the caller reports ctx's error
		}
		if len(g.outbound) > 0 {
			key, name := envoyFilterKey(root, "outbound", g.svc.Hostname)
			out = append(out, reuseAssembled(prev, next, key, g.outbound, func() *EnvoyFilter {
				return as.assemble(root, name, g.svc, nil, g.outbound, outbound)
			}))
		}
		// Inbound patches need a workload selector; a service without one
		// (external endpoints) has no sidecars of its own to patch.
		if len(g.inbound) > 0 && len(g.svc.Selector) > 0 {
			key, name := envoyFilterKey(g.svc.Namespace, "inbound", g.svc.Hostname)
			out = append(out, reuseAssembled(prev, next, key, g.inbound, func() *EnvoyFilter {
				sel := &typev1beta1.WorkloadSelector{MatchLabels: g.svc.Selector}
				return as.assemble(g.svc.Namespace, name, g.svc, sel, g.inbound, inbound)
			}))
		}
	}
	return out, diags
}

// efState is the EnvoyFilter side of the last kept translation: its units
// grouped the way they are assembled (efGroupOf), the EnvoyFilters each
// group gave, the assembly cache and the sorted list. A translation
// regroups and reassembles only the groups whose units changed, and
// patches the list.
type efState struct {
	root      string                     // the root namespace the outbound EnvoyFilters are in
	groups    map[efGroup][]*Unit        // by group, sorted by key
	made      map[efGroup][]*EnvoyFilter // by group
	wildcard  map[efGroup]bool           // groups of ServiceEntries without an address
	assembled map[string]*assembled      // by namespace/name
	list      []*EnvoyFilter             // sorted by namespace and name
}

// efGroup names the EnvoyFilters of a group of units: a service's
// sidecar units (its outbound and inbound EnvoyFilters) are the group of
// its hostname itself, so that grouping them allocates nothing; a
// service's chain in a waypoint istiod serves is the group
// "\x00<waypoint namespace>/<name>|<host>" (no hostname starts with NUL).
type efGroup = string

// waypointGroup starts the group of a waypoint's chain.
const waypointGroup = "\x00"

// efGroupOf is the group of a unit; false for the units no EnvoyFilter
// carries.
func efGroupOf(u *Unit) (efGroup, bool) {
	switch {
	case u.Skipped:
		return "", false
	case u.Role == plugin.RoleSidecarOutbound || u.Role == plugin.RoleSidecarInbound:
		return u.Service.Hostname, true
	case u.IstiodWaypoint():
		return waypointGroup + u.Waypoint.Namespace + "/" + u.Waypoint.Name + "|" + u.Service.Hostname, true
	}
	return "", false
}

// sharesWildcard says whether a sidecar group is a ServiceEntry's without
// an address, whose outbound patches sharedWildcardListeners weighs
// against every other such ServiceEntry's: these groups are assembled
// again on every translation (there are few).
func sharesWildcard(group efGroup, units []*Unit) bool {
	if strings.HasPrefix(group, waypointGroup) || len(units) == 0 {
		return false
	}
	svc := units[0].Service
	return len(svc.Addresses) == 0 && svc.Ref.Kind == "ServiceEntry"
}

// efPatch is one translation's change to an efState, applied by commit
// when the translation is kept.
type efPatch struct {
	st      *efState
	fresh   bool                       // st is a new state
	groups  map[efGroup][]*Unit        // the groups assembled again (empty: gone)
	made    map[efGroup][]*EnvoyFilter // what they gave
	next    map[string]*assembled      // their assembly
	removed []*EnvoyFilter             // EnvoyFilters of theirs dropped or replaced
	list    []*EnvoyFilter             // the new sorted list
	diags   []model.Diagnostic         // sharedWildcardListeners'
}

// envoyFilters assembles the EnvoyFilters of a translation from the
// changes to the units since prev's (all: every unit, sorted by key as
// Output.Units lists them, for a first translation or another root
// namespace, which renames every outbound EnvoyFilter): only the groups
// of changed units, and those sharing a wildcard listener, are assembled
// again, each reusing its previous assembly when its units are the same.
// A nil patch means ctx ended.
func envoyFilters(ctx context.Context, snap *model.Snapshot, prev *efState, ch unitChanges, all []*Unit) *efPatch {
	root := snap.Options().RootNamespace
	p := &efPatch{st: prev, groups: map[efGroup][]*Unit{}, made: map[efGroup][]*EnvoyFilter{}}
	if prev == nil || prev.root != root {
		p.fresh = true
		n := len(all) / 2 // about a group per service of two roles
		// The new state takes the patch's maps (commit), which hold all of it.
		p.groups, p.made = make(map[efGroup][]*Unit, n), make(map[efGroup][]*EnvoyFilter, n)
		p.st = &efState{root: root, wildcard: map[efGroup]bool{}, assembled: map[string]*assembled{}}
		if prev != nil {
			p.st.assembled = prev.assembled // for reuse; commit starts a new one
		}
		ch = unitChanges{added: all}
	}
	st := p.st
	touch := func(g efGroup) []*Unit {
		if l, ok := p.groups[g]; ok {
			return l
		}
		l := slices.Clone(st.groups[g])
		p.groups[g] = l
		return l
	}
	for _, u := range ch.removed {
		if g, ok := efGroupOf(u); ok {
			p.groups[g] = slices.DeleteFunc(touch(g), func(x *Unit) bool { return x == u })
		}
	}
	// units are those of the groups to assemble, in the order of a full
	// list (by key), which the assembly is given. A fresh state's are all,
	// already in that order (Output.Units), and so is every group made
	// from them: none needs sorting.
	units := make([]*Unit, 0, len(ch.added))
	for _, u := range ch.added {
		if g, ok := efGroupOf(u); ok {
			p.groups[g] = append(touch(g), u)
			if p.fresh {
				units = append(units, u)
			}
		}
	}
	if !p.fresh {
		for g := range st.wildcard {
			touch(g)
		}
		for _, l := range p.groups {
			sortUnits(l)
			units = append(units, l...)
		}
		sortUnits(units)
	}
	p.next = make(map[string]*assembled, 2*len(p.groups))
	_, p.diags = sidecarEnvoyFilters(ctx, snap, units, st.assembled, p.next)
	istiodWaypointEnvoyFilters(ctx, units, st.assembled, p.next)
	if ctx.Err() != nil {
		return nil
	}
	// A group gives at most an outbound and an inbound EnvoyFilter: each
	// group's list starts as two slots of one array.
	slots := make([]*EnvoyFilter, 2*len(p.next))
	var added []*EnvoyFilter
	if p.fresh {
		// Every EnvoyFilter is new: no set to tell them from the old ones.
		added = make([]*EnvoyFilter, 0, len(p.next))
		for _, a := range p.next {
			p.addMade(a, &slots)
			added = append(added, a.ef)
		}
	} else {
		made := make(map[*EnvoyFilter]bool, len(p.next))
		for _, a := range p.next {
			p.addMade(a, &slots)
			made[a.ef] = true
		}
		was := map[*EnvoyFilter]bool{}
		for g := range p.groups {
			for _, ef := range st.made[g] {
				was[ef] = true
				if !made[ef] {
					p.removed = append(p.removed, ef)
				}
			}
		}
		for ef := range made {
			if !was[ef] {
				added = append(added, ef)
			}
		}
	}
	base := st.list
	if p.fresh {
		base = nil
	}
	p.list = patchSorted(base, p.removed, added, compareEnvoyFilters)
	return p
}

// addMade records a's EnvoyFilter as made by its group, a new group's
// list taking two of slots.
func (p *efPatch) addMade(a *assembled, slots *[]*EnvoyFilter) {
	g, _ := efGroupOf(a.units[0])
	l := p.made[g]
	if l == nil && len(*slots) >= 2 {
		l, *slots = (*slots)[:0:2], (*slots)[2:]
	}
	p.made[g] = append(l, a.ef)
}

// commit makes the patch the state of the translator's EnvoyFilters.
func (p *efPatch) commit() *efState {
	st := p.st
	if p.fresh {
		// Every group is in the patch, none empty (they come from the
		// units added), and made and next hold what all of them gave: the
		// state is the patch's maps, not copies of them.
		st.groups, st.made, st.assembled = p.groups, p.made, p.next
		for g, l := range p.groups {
			if sharesWildcard(g, l) {
				st.wildcard[g] = true
			}
		}
		st.list = p.list
		return st
	}
	for g, l := range p.groups {
		if len(l) == 0 {
			delete(st.groups, g)
			delete(st.made, g)
			delete(st.wildcard, g)
			continue
		}
		st.groups[g] = l
		if m := p.made[g]; len(m) > 0 {
			st.made[g] = m
		} else {
			delete(st.made, g)
		}
		if sharesWildcard(g, l) {
			st.wildcard[g] = true
		} else {
			delete(st.wildcard, g)
		}
	}
	for _, ef := range p.removed {
		delete(st.assembled, ef.Namespace+"/"+ef.Name)
	}
	for k, a := range p.next {
		st.assembled[k] = a
	}
	st.list = p.list
	return st
}

// compareEnvoyFilters orders EnvoyFilters by namespace and name.
func compareEnvoyFilters(a, b *EnvoyFilter) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// groupList returns the services of groups in source order.
func groupList[G any](groups map[string]G, svc func(G) *model.Service) []*model.Service {
	out := make([]*model.Service, 0, len(groups))
	for _, g := range groups {
		out = append(out, svc(g))
	}
	sort.Slice(out, func(i, j int) bool { return sourceBefore(out[i], out[j]) })
	return out
}

// sourceBefore orders services as their sources were written: by file and
// document, then by namespace/name, then hostname (the hosts of one
// ServiceEntry in its order of hosts is not known, so by name).
func sourceBefore(a, b *model.Service) bool {
	if a.Origin.File != b.Origin.File {
		return a.Origin.File < b.Origin.File
	}
	if a.Origin.Index != b.Origin.Index {
		return a.Origin.Index < b.Origin.Index
	}
	if a.Ref.Key() != b.Ref.Key() {
		return a.Ref.Key() < b.Ref.Key()
	}
	return a.Hostname < b.Hostname
}

// sharedWildcardListeners finds the ServiceEntries without an address
// that share a port: Istio builds one outbound listener, 0.0.0.0_<port>,
// for all of them, with a single tcp_proxy chain, so only one protocol
// filter can replace it. The first in source order keeps the port; every
// later one's outbound patch is dropped (it would silently match nothing)
// with an error naming both. Kubernetes Services are left alone: one
// written without a clusterIP gets one from the API server.
func sharedWildcardListeners(services []*model.Service, outbound func(*model.Service) *[]*Unit) []model.Diagnostic {
	owner := map[uint32]*model.Service{}
	var diags []model.Diagnostic
	for _, svc := range services {
		if len(svc.Addresses) > 0 || svc.Ref.Kind != "ServiceEntry" {
			continue
		}
		units := outbound(svc)
		kept := (*units)[:0]
		for _, u := range *units {
			first, taken := owner[u.Port.Number]
			if !taken {
				owner[u.Port.Number] = svc
				kept = append(kept, u)
				continue
			}
			diags = append(diags, model.Diagnostic{Severity: model.SeverityError, Object: svc.Ref, Reason: "SharedListener", Plugin: u.Plugin,
				Message: fmt.Sprintf("%s and %s (%s) both have port %d and no address, so sidecars reach both through the one outbound listener %s, whose single tcp_proxy chain only %s's filter replaces; %s's routes for port %d are not programmed on sidecars: give the ServiceEntries addresses (spec.addresses), or different ports",
					svc.Hostname, first.Hostname, first.Ref, u.Port.Number, listenerName(wildcardAddress, u.Port.Number), first.Hostname, svc.Hostname, u.Port.Number)})
		}
		*units = kept
	}
	return diags
}

type patchFunc func(svc *model.Service, u *Unit) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch

// assembler assembles the EnvoyFilters of one translation, reusing its
// buffers from one EnvoyFilter to the next: the revision hash, the text of
// the annotations, the keys of the maps hashed, the spec's encoding
// before it is copied out. The labels, the same on every EnvoyFilter, are
// one map they share (nobody writes to them).
type assembler struct {
	h      *revisionHash
	text   []byte
	ann    []byte
	spec   []byte
	labels map[string]string
	arena  *specArena
}

func newAssembler() *assembler {
	return &assembler{h: newRevisionHash(), labels: map[string]string{managedByLabel: managedByValue}, arena: &specArena{}}
}

// sortByPort sorts units by port. Units already in order, ports all
// different (as reuseAssembled leaves them for assemble), are left as they
// are without a sort, which would not move them either.
func sortByPort(units []*Unit) {
	for i := 1; i < len(units); i++ {
		if units[i-1].Port.Number >= units[i].Port.Number {
			sort.Slice(units, func(i, j int) bool { return units[i].Port.Number < units[j].Port.Number })
			return
		}
	}
}

// assemble is the EnvoyFilter ns/name of units, sealed.
func (as *assembler) assemble(ns, name string, svc *model.Service, sel *typev1beta1.WorkloadSelector, units []*Unit, patches patchFunc) *EnvoyFilter {
	ef := as.build(ns, name, svc, sel, units, patches)
	as.seal(ef, units)
	return ef
}

// seal gives an EnvoyFilter built from units its revision and encoding,
// and drops its spec when it encoded: a mesh's EnvoyFilters stay as
// long as the server runs, and their specs as messages (every patch's
// match and operation, a dozen small objects each) were a tenth of what
// it held, marked again by every collection, for Spec's callers alone.
func (as *assembler) seal(ef *EnvoyFilter, units []*Unit) {
	ef.Revision = as.revision(ef, units)
	if ef.enc != nil {
		ef.spec, ef.lazy, ef.enc.from = nil, nil, nil
		as.arena.reuse() // the spec is gone: the next one takes its messages
		return
	}
	as.arena.abandon() // the EnvoyFilter keeps them
}

// build is an EnvoyFilter of units, its spec made and not encoded yet.
func (as *assembler) build(ns, name string, svc *model.Service, sel *typev1beta1.WorkloadSelector, units []*Unit, patches patchFunc) *EnvoyFilter {
	sortByPort(units)
	ef := &EnvoyFilter{
		Namespace: ns, Name: name,
		Labels: as.labels,
		spec:   as.arena.spec(),
	}
	if sel != nil {
		ef.spec.WorkloadSelector = as.arena.selector(sel.MatchLabels)
	}
	// The service port annotation, "<host>:<port>,<port>...", is written
	// as the units are walked; the source annotation after it.
	text := append(append(as.text[:0], svc.Hostname...), ':')
	list := as.arena.list[:0]
	for i, u := range units {
		list = append(list, patches(svc, u)...)
		ef.Secret = ef.Secret || (u.secret && !u.FailedClosed)
		if i > 0 {
			text = append(text, ',')
		}
		text = strconv.AppendUint(text, uint64(u.Port.Number), 10)
		ef.Sources = appendSources(ef.Sources, u.Objects)
	}
	ef.spec.ConfigPatches, as.arena.list = list, list
	ports := len(text)
	for i, o := range ef.Sources {
		if i > 0 {
			text = append(text, ", "...)
		}
		text = o.AppendText(text)
	}
	// The annotations, in the order of their keys (annotations.go).
	ann := as.ann[:0]
	if len(units) > 0 && units[0].Profile != nil {
		ann = appendAnnotation(ann, ProfileAnnotation, units[0].Profile.Name)
	}
	ann = appendAnnotation(ann, servicePortAnnotation, text[:ports])
	ann = appendAnnotation(ann, sourceAnnotation, text[ports:])
	ef.annotations = string(ann)
	as.text, as.ann = text[:0], ann[:0]
	return ef
}

// appendSources appends the objects of objs not in sources yet, in order.
// An EnvoyFilter has few: a look through the list is cheaper than a set
// of keys, up to a set's worth.
func appendSources(sources, objs []model.ObjectRef) []model.ObjectRef {
	if len(sources) == 0 && len(objs) > 0 && distinct(objs) {
		// objs itself, capacity cut so that the next unit's are appended
		// to a copy: most EnvoyFilters are of one unit.
		return objs[:len(objs):len(objs)]
	}
	if len(sources)+len(objs) > 64 {
		seen := make(map[model.ObjectRef]bool, len(sources)+len(objs))
		for _, o := range sources {
			seen[o] = true
		}
		for _, o := range objs {
			if !seen[o] {
				seen[o] = true
				sources = append(sources, o)
			}
		}
		return sources
	}
	for _, o := range objs {
		if !slices.Contains(sources, o) {
			sources = append(sources, o)
		}
	}
	return sources
}

// distinct reports whether the few objects of objs are all different
// (false for many, not looked at).
func distinct(objs []model.ObjectRef) bool {
	if len(objs) > 8 {
		return false
	}
	for i := range objs {
		if slices.Contains(objs[:i], objs[i]) {
			return false
		}
	}
	return true
}

// envoyFilterRevision hashes everything istiod receives of an EnvoyFilter,
// so any change to it (a plugin's output, but also a service's address,
// which names the listener a patch matches) is a new version.
//
// units are those ef was assembled from: their Structs' encodings are
// reused.
func envoyFilterRevision(ef *EnvoyFilter, units []*Unit) model.Revision {
	return newAssembler().revision(ef, units)
}

// revision is envoyFilterRevision with the assembler's hash.
func (as *assembler) revision(ef *EnvoyFilter, units []*Unit) model.Revision {
	h := as.h
	h.reset()
	h.str(ef.Namespace)
	h.str(ef.Name)
	start := len(h.keys)
	for k := range ef.Labels {
		h.keys = append(h.keys, k)
	}
	keys := h.keys[start:]
	slices.Sort(keys)
	for _, k := range keys {
		h.str(k)
		h.str(ef.Labels[k])
	}
	h.keys = h.keys[:start]
	ef.EachAnnotation(func(k, v string) { // sorted by key, as the labels
		h.str(k)
		h.str(v)
	})
	// The encoding is kept for the publisher (EncodedSpec), with room
	// before it for the head of the message it is sent in (Framed).
	if enc, ok := encodeSpec(ef.spec, units, envelopeRoom(ef), &as.spec); ok {
		ef.enc = enc
		h.bytes(enc.spec())
	} else {
		ef.enc = nil
		// The spec stays (seal): its units' patch values are decoded
		// when it is read.
		ef.lazy = ef.lazy[:0]
		for _, u := range units {
			for _, fs := range u.structs {
				ef.lazy = append(ef.lazy, fs.patchValue)
			}
		}
		h.message(ef.Spec())
	}
	return h.revision()
}

// specArena holds the messages of the specs one assembler builds, each
// of which is made only to be encoded and hashed and then dropped (seal):
// the next EnvoyFilter's spec is written into the same messages instead
// of a dozen new ones per EnvoyFilter (a tenth of a cold start's
// allocations). A spec that did not encode keeps its messages (abandon).
type specArena struct {
	specs     chunks[networkingv1alpha3.EnvoyFilter]
	selectors chunks[networkingv1alpha3.WorkloadSelector]
	matches   chunks[listenerMatch]
	patches   chunks[filterPatch]
	list      []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch // the spec's patches
	unit      []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch // one unit's, until the next unit's
}

// listenerMatch is the match of a listener patch, in one allocation.
type listenerMatch struct {
	match    networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch
	listener networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_Listener
	lm       networkingv1alpha3.EnvoyFilter_ListenerMatch
	chain    networkingv1alpha3.EnvoyFilter_ListenerMatch_FilterChainMatch
	filter   networkingv1alpha3.EnvoyFilter_ListenerMatch_FilterMatch
}

// filterPatch is a network filter patch and its operation, in one
// allocation.
type filterPatch struct {
	patch networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch
	op    networkingv1alpha3.EnvoyFilter_Patch
}

// chunks hands out zeroed values from blocks that are never grown, so
// that a value handed out stays where it is while more are. Blocks start
// small (an edit assembles one EnvoyFilter) and double up to maxChunk.
type chunks[T any] struct {
	blocks [][]T
	b, i   int // the next value: blocks[b][i]
}

const maxChunk = 64

// get is a zeroed value.
func (c *chunks[T]) get() *T {
	for c.b < len(c.blocks) && c.i == len(c.blocks[c.b]) {
		c.b, c.i = c.b+1, 0
	}
	if c.b == len(c.blocks) {
		c.blocks = append(c.blocks, make([]T, min(4<<len(c.blocks), maxChunk)))
	}
	v := &c.blocks[c.b][c.i]
	c.i++
	var zero T
	*v = zero
	return v
}

// free makes every value handed out free again.
func (c *chunks[T]) free() { c.b, c.i = 0, 0 }

// reuse makes every value handed out free again.
func (a *specArena) reuse() {
	a.specs.free()
	a.selectors.free()
	a.matches.free()
	a.patches.free()
}

// abandon leaves every value handed out, and the lists, to their spec.
func (a *specArena) abandon() {
	*a = specArena{}
}

func (a *specArena) spec() *networkingv1alpha3.EnvoyFilter { return a.specs.get() }

func (a *specArena) selector(labels map[string]string) *networkingv1alpha3.WorkloadSelector {
	ws := a.selectors.get()
	ws.Labels = labels
	return ws
}

// listenerMatch is a match on a listener's filter chain's filter.
func (a *specArena) listenerMatch(ctx networkingv1alpha3.EnvoyFilter_PatchContext, listener string, port uint32, chain string, destPort uint32, filter string) *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch {
	m := a.matches.get()
	m.filter.Name = filter
	m.chain.Name, m.chain.DestinationPort, m.chain.Filter = chain, destPort, &m.filter
	m.lm.Name, m.lm.PortNumber, m.lm.FilterChain = listener, port, &m.chain
	m.listener.Listener = &m.lm
	m.match.Context, m.match.ObjectTypes = ctx, &m.listener
	return &m.match
}

// unitPatches is the list the patch functions append one unit's patches
// to: the arena's, which the next unit's call reuses (the caller copies
// them out first).
func (a *specArena) unitPatches() []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	return a.unit[:0]
}

// done ends a unit's list, its capacity cut so that an append to it
// (withClusterPatches) does not write into the arena's.
func (a *specArena) done(out []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	a.unit = out
	return out[:len(out):len(out)]
}

// outboundPatches replaces tcp_proxy in the sidecar's outbound listener for
// the service port. Istio names that listener "<vip>_<port>", or
// "0.0.0.0_<port>" for services without a VIP.
func (a *specArena) outboundPatches(svc *model.Service, u *Unit) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	addrs := svc.Addresses
	if len(addrs) == 0 {
		addrs = []string{wildcardAddress}
	}
	out := a.unitPatches()
	for _, addr := range addrs {
		match := a.listenerMatch(networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND, listenerName(addr, u.Port.Number), u.Port.Number, "", 0, tcpProxyFilter)
		out = a.filterPatches(out, match, u)
	}
	return a.done(out)
}

// inboundPatches replaces tcp_proxy in the virtualInbound chains for the
// service's target port.
func (a *specArena) inboundPatches(_ *model.Service, u *Unit) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	port := u.Port.TargetPort
	if port == 0 {
		// A named target port resolves per pod; match on the chain's filter only.
		port = u.Port.Number
	}
	match := a.listenerMatch(networkingv1alpha3.EnvoyFilter_SIDECAR_INBOUND, virtualInboundName, 0, "", port, tcpProxyFilter)
	return a.done(a.filterPatches(a.unitPatches(), match, u))
}

// filterPatches appends a unit's filters as patches at match to out: the
// last (terminal) filter replaces tcp_proxy and the others are inserted
// before it. A failed-closed unit instead gets a deny-all RBAC filter in
// front of tcp_proxy, so the port refuses calls rather than bypassing the
// policy.
func (a *specArena) filterPatches(out []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch, match *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch, u *Unit) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	patch := func(op networkingv1alpha3.EnvoyFilter_Patch_Operation, value *structpb.Struct) *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
		p := a.patches.get()
		p.op.Operation, p.op.Value = op, value
		p.patch.ApplyTo, p.patch.Match, p.patch.Patch = networkingv1alpha3.EnvoyFilter_NETWORK_FILTER, match, &p.op
		return &p.patch
	}
	if u.FailedClosed || len(u.Filters) == 0 {
		return append(out, patch(networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE, toStruct(DenyAllFilter(u.Key))))
	}
	// The Structs come from the unit build (Unit.filterStruct).
	for i := range len(u.Filters) - 1 {
		out = append(out, patch(networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE, u.filterStruct(i)))
	}
	return append(out, patch(networkingv1alpha3.EnvoyFilter_Patch_REPLACE, u.filterStruct(len(u.Filters)-1)))
}

// DenyAllFilter is the network RBAC filter that makes a failed port
// refuse every connection.
func DenyAllFilter(statPrefix string) *listenerv3.Filter {
	return xds.NetworkFilter(rbacFilterName, &rbacv3.RBAC{
		StatPrefix: "aeraki_fail_closed." + sanitizeStat(statPrefix),
		Rules: &rbacconfigv3.RBAC{Action: rbacconfigv3.RBAC_DENY, Policies: map[string]*rbacconfigv3.Policy{
			"aeraki-fail-closed": {
				Permissions: []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}},
				Principals:  []*rbacconfigv3.Principal{{Identifier: &rbacconfigv3.Principal_Any{Any: true}}},
			},
		}},
	})
}

func sanitizeStat(s string) string {
	return strings.NewReplacer("|", "_", ":", "_").Replace(s)
}

func listenerName(addr string, port uint32) string {
	return addr + "_" + strconv.FormatUint(uint64(port), 10)
}

// envoyFilterName is "aeraki-<direction>-<host>", shortened with a hash
// when the host is too long for a Kubernetes name.
func envoyFilterName(direction, host string) string {
	name := "aeraki-" + direction + "-" + strings.ToLower(host)
	if len(name) <= 253 {
		return name
	}
	return name[:240] + "-" + string(model.RevisionOf(host))[:12]
}

// envoyFilterKey is the Key of the EnvoyFilter envoyFilterName names in
// ns, and that name, a part of it: one string for both.
func envoyFilterKey(ns, direction, host string) (key, name string) {
	if lower := strings.ToLower(host); len("aeraki-")+len(direction)+1+len(lower) <= 253 {
		key = ns + "/aeraki-" + direction + "-" + lower
	} else {
		key = ns + "/" + envoyFilterName(direction, host)
	}
	return key, key[len(ns)+1:]
}

// toStruct converts an Envoy message into the Struct an EnvoyFilter patch
// carries, in the JSON form istiod parses back (typed_config with @type):
// directly (structOf) when it can, through JSON otherwise.
func toStruct(m proto.Message) *structpb.Struct {
	if s, err := structOf(m); err == nil {
		return s
	}
	return toStructJSON(m)
}

// toStructJSON is toStruct through protojson: the reference structOf must
// equal, and the way for what structOf does not handle.
func toStructJSON(m proto.Message) *structpb.Struct {
	b, err := protojson.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("translate: cannot encode %T: %v", m, err))
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		panic(fmt.Sprintf("translate: cannot decode %T as a Struct: %v", m, err))
	}
	return s
}

// Manifest renders the EnvoyFilter as a Kubernetes object (a generic map
// with sorted keys when encoded), ready to print or `kubectl apply`.
func (e *EnvoyFilter) Manifest() map[string]any {
	spec := map[string]any{}
	b, err := protojson.Marshal(e.Spec())
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil {
		panic(fmt.Sprintf("translate: cannot encode EnvoyFilter %s/%s: %v", e.Namespace, e.Name, err))
	}
	meta := map[string]any{"name": e.Name, "namespace": e.Namespace}
	if len(e.Labels) > 0 {
		meta["labels"] = e.Labels
	}
	if a := e.Annotations(); len(a) > 0 {
		meta["annotations"] = a
	}
	return map[string]any{
		"apiVersion": "networking.istio.io/v1alpha3",
		"kind":       "EnvoyFilter",
		"metadata":   meta,
		"spec":       spec,
	}
}

// Validate decodes every patch value back into the Envoy filter istiod
// will build from it and validates that filter, Any contents included:
// the check on the exact form that leaves aeraki.
func (e *EnvoyFilter) Validate() error {
	msgs, err := e.PatchMessages()
	if err != nil {
		return err
	}
	var errs []error
	for i, m := range msgs {
		if err := xds.Validate(m); err != nil {
			errs = append(errs, fmt.Errorf("patch %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// PatchMessages decodes every patch value into what istiod gives the
// proxy: a network filter, or a cluster patch merged into a cluster like
// istiod's. Checks of the exact form that leaves aeraki (validation, the
// fidelity gate in tests) run on these.
func (e *EnvoyFilter) PatchMessages() ([]proto.Message, error) {
	var out []proto.Message
	var errs []error
	for i, p := range e.Spec().GetConfigPatches() {
		b, err := protojson.Marshal(p.GetPatch().GetValue())
		if err != nil {
			errs = append(errs, fmt.Errorf("patch %d: %w", i, err))
			continue
		}
		f, merged := patchTarget(p)
		if err := protojson.Unmarshal(b, f); err != nil {
			errs = append(errs, fmt.Errorf("patch %d: value is not an Envoy %s: %w", i, f.ProtoReflect().Descriptor().Name(), err))
			continue
		}
		out = append(out, merged(f))
	}
	return out, errors.Join(errs...)
}
