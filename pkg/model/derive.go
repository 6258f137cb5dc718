package model

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"weak"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// A source hands the model what changed rather than the whole mesh: an
// Edit of the last snapshot puts and deletes the objects a change touched,
// and its Build re-indexes only those (the services, endpoints, workloads,
// routing lists and nodes they are part of), sharing everything else with
// the snapshot it came from. The result is the snapshot Build would make
// from the same objects (TestEditEqualsBuild). It also remembers which
// dependency keys it changed, so Diff against its recent ancestors is
// proportional to the changes rather than to the mesh.

// step is one derivation: the dependency keys whose revision differs
// between from and the snapshot derived from it. from is weak: a
// snapshot does not keep its ancestors alive.
type step struct {
	from weak.Pointer[Snapshot]
	keys []string
}

// maxLineage is how many derivations back Diff can work from a
// snapshot's recorded changes; further back it compares every key.
const maxLineage = 16

// maxEditFraction: an Edit that changes more than 1/maxEditFraction of a
// snapshot's objects is built from scratch, which is cheaper by then.
const maxEditFraction = 4

// Edit is a set of changes to a Snapshot; Build makes the snapshot with
// them applied. Create it with Snapshot.Edit. It is not safe for
// concurrent use.
type Edit struct {
	base    *Snapshot
	b       *Builder
	changes map[string]*entry // by key; nil deletes
}

// Edit starts a snapshot derived from s; s is not modified.
func (s *Snapshot) Edit() *Edit {
	b := &Builder{opts: s.opts, kinds: s.kinds}
	return &Edit{base: s, b: b, changes: map[string]*entry{}}
}

// Put adds obj, or replaces the object of the same kind, namespace and
// name (an update, not a duplicate). The rules of Builder.Add apply: the
// Edit takes ownership of obj, and an object out of bounds or without a
// revision is not put (the error says why; an object it replaces stays
// replaced by nothing, as if deleted, so a bad update does not leave a
// stale version behind).
func (e *Edit) Put(obj runtime.Object, origin Origin) error {
	en, err := e.b.newEntry(obj, origin)
	if err != nil {
		if ref, _, rerr := e.b.kinds.refOf(obj); rerr == nil {
			e.Delete(ref)
		}
		return err
	}
	e.changes[en.key] = en
	return nil
}

// Delete removes the object ref names; a no-op when there is none.
func (e *Edit) Delete(ref ObjectRef) { e.changes[ref.Key()] = nil }

// Len returns how many objects the Edit puts or deletes.
func (e *Edit) Len() int { return len(e.changes) }

// Build returns the snapshot with the changes applied: the snapshot Edit
// was called on when they change nothing (every object put is the one it
// holds, every object deleted absent).
func (e *Edit) Build() *Snapshot { return e.base.derive(e.changes, maxEditFraction) }

// BuildFrom is Build for a source that adds every object again (the file
// source reloading a directory): it compares the objects added with
// prev's, by identity and revision, and derives the snapshot from prev by
// the differences, as an Edit does. prev must have been built with the
// same Options; nil (or a snapshot Without made) means Build.
func (b *Builder) BuildFrom(prev *Snapshot) *Snapshot {
	if prev == nil || !prev.derivable {
		return b.Build()
	}
	if b.memo != nil {
		b.memo.rotate()
	}
	changes := map[string]*entry{}
	for k, e := range b.objects {
		if o, ok := prev.objects.get(k); !ok || o.obj != e.obj || o.rev != e.rev || o.origin != e.origin {
			changes[k] = e
		}
	}
	for _, e := range prev.entries {
		if _, ok := b.objects[e.key]; !ok {
			changes[e.key] = nil
		}
	}
	if len(changes)*maxEditFraction > len(b.objects) {
		return b.buildWithKinds(prev.kinds)
	}
	return prev.derive(changes, maxEditFraction)
}

// change is one object an Edit touches: what prev held (nil: nothing) and
// what the new snapshot holds (nil: nothing).
type change struct {
	key      string
	old, cur *entry
}

func (c change) any() *entry {
	if c.cur != nil {
		return c.cur
	}
	return c.old
}

// derive applies changes to p (see Edit). When more than 1/fraction of
// p's objects change (fraction > 0), it builds from scratch instead.
func (p *Snapshot) derive(changes map[string]*entry, fraction int) *Snapshot {
	var list []change
	for k, cur := range changes {
		old, _ := p.objects.get(k) // read-only: p's own entry
		switch {
		case old == nil && cur == nil:
			continue
		case old != nil && cur != nil && old.obj == cur.obj && old.rev == cur.rev && old.origin == cur.origin:
			continue
		}
		list = append(list, change{key: k, old: old, cur: cur})
	}
	if len(list) == 0 {
		return p
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	if fraction > 0 && len(list)*fraction > len(p.entries) || !p.derivable {
		b := &Builder{opts: p.opts, kinds: p.kinds, objects: make(map[string]*entry, len(p.entries))}
		for _, e := range p.entries {
			b.objects[e.key] = e
		}
		for _, c := range list {
			if c.cur == nil {
				delete(b.objects, c.key)
			} else {
				b.objects[c.key] = c.cur
			}
		}
		return b.Build()
	}

	d := new(Snapshot)
	*d = *p
	d.touched = map[string]struct{}{}
	d.revs = p.revs.fork()
	objs := make(map[string]*entry, len(list))
	for _, c := range list {
		objs[c.key] = c.cur
	}
	d.objects = p.objects.with(objs)
	d.entries = mergeEntries(p.entries, list)

	var (
		namespaces, secrets, workloads, services, slices, gateways []change
		routing                                                    = map[schema.GroupKind][]change{}
		ambientDirty                                               bool
	)
	for _, c := range list {
		switch c.any().obj.(type) {
		case *corev1.Namespace:
			namespaces = append(namespaces, c)
		case *corev1.Secret:
			secrets = append(secrets, c)
		case *corev1.Pod, *networkingv1.WorkloadEntry:
			workloads = append(workloads, c)
		case *corev1.Service, *networkingv1.ServiceEntry:
			services = append(services, c)
		case *discoveryv1.EndpointSlice:
			slices = append(slices, c)
		case *gatewayv1.Gateway:
			gateways = append(gateways, c)
			ambientDirty = true
		case *gatewayv1.GatewayClass:
			ambientDirty = true
		}
		ref := c.any().ref
		gk := schema.GroupKind{Group: ref.Group, Kind: ref.Kind}
		if k, ok := p.kinds.byGK[gk]; ok && k.Routing {
			routing[gk] = append(routing[gk], c)
		}
	}

	if len(namespaces) > 0 {
		d.namespaces = maps.Clone(p.namespaces)
		for _, c := range namespaces {
			d.editNamespace(c)
		}
	}
	if len(secrets) > 0 {
		d.secrets = maps.Clone(p.secrets)
		for _, c := range secrets {
			d.editSecret(c)
		}
	}
	hosts := map[string]bool{} // hosts whose services or endpoints to index again
	nodes := map[string]bool{}
	if len(workloads) > 0 {
		if d.editWorkloads(p, workloads, hosts, nodes) {
			ambientDirty = true
		}
	}
	if len(slices) > 0 {
		d.editSlices(slices, hosts)
	}
	newServices := map[string][]*Service{} // object key -> its services now
	for _, c := range services {
		d.serviceHosts(c, hosts, newServices)
	}
	if len(hosts) > 0 {
		d.editHosts(p, hosts, newServices)
		for _, gw := range p.gateways {
			if hosts[gw.Name+"."+gw.Namespace+".svc."+p.opts.DomainSuffix] {
				ambientDirty = true
			}
		}
	}
	if len(gateways) > 0 {
		d.gateways = nil
		var refs []ObjectRef
		for _, e := range d.entries {
			if gw, ok := e.obj.(*gatewayv1.Gateway); ok {
				d.gateways = append(d.gateways, gw)
				refs = append(refs, e.ref)
			}
		}
		d.reviseList("gateways", refs)
	}
	if len(routing) > 0 {
		d.routing = maps.Clone(p.routing)
		for _, k := range p.kinds.list {
			if chs := routing[k.GroupKind()]; len(chs) > 0 {
				d.editRouting(p, k, chs)
			}
		}
	}
	switch {
	case ambientDirty:
		for _, wp := range p.ambient.list {
			d.delRev("waypoint:" + wp.Namespace + "/" + wp.Name)
		}
		for _, n := range p.ambient.nodes {
			d.delRev("node:" + n)
		}
		d.indexAmbient()
	case len(nodes) > 0:
		d.editNodes(p, nodes)
	}

	var keys []string
	for k := range d.touched {
		o, inOld := p.revs.get(k)
		n, inNew := d.revs.get(k)
		if o != n || inOld != inNew {
			keys = append(keys, k)
		}
	}
	d.touched = nil
	d.revs.settle()
	d.lineage = append([]step{{from: weak.Make(p), keys: keys}}, p.lineage[:min(len(p.lineage), maxLineage-1)]...)
	return d
}

// buildWithKinds is Build for a snapshot that takes the place of one
// built with kinds (the same kinds, from the same Options).
func (b *Builder) buildWithKinds(kinds *KindIndex) *Snapshot {
	b.kinds = kinds
	return b.Build()
}

// setRev writes a dependency key's revision; delRev removes it. During a
// derivation both record the key, so the changes can be listed.
func (s *Snapshot) setRev(k string, r Revision) {
	s.revs.set(k, r)
	if s.touched != nil {
		s.touched[k] = struct{}{}
	}
}

func (s *Snapshot) delRev(k string) {
	if !s.revs.del(k) {
		return
	}
	if s.touched != nil {
		s.touched[k] = struct{}{}
	}
}

// changedSince returns the keys that may differ between old and s, from
// the derivations that lead from their nearest common ancestor (either
// of them, or one both were derived from: two snapshots Without made
// from consecutive ones) to each; ok is false when there is none among
// their recent ancestors.
func (s *Snapshot) changedSince(old *Snapshot) (keys []string, ok bool) {
	if old == s {
		return nil, true
	}
	oldAt := make(map[weak.Pointer[Snapshot]]int, len(old.lineage)+1)
	oldAt[weak.Make(old)] = 0
	for j, st := range old.lineage {
		if _, seen := oldAt[st.from]; !seen {
			oldAt[st.from] = j + 1
		}
	}
	at := func(i int) weak.Pointer[Snapshot] {
		if i == 0 {
			return weak.Make(s)
		}
		return s.lineage[i-1].from
	}
	for i := 0; i <= len(s.lineage); i++ {
		j, found := oldAt[at(i)]
		if !found {
			continue
		}
		seen := map[string]bool{}
		for _, steps := range [][]step{s.lineage[:i], old.lineage[:j]} {
			for _, st := range steps {
				for _, k := range st.keys {
					if !seen[k] {
						seen[k] = true
						keys = append(keys, k)
					}
				}
			}
		}
		return keys, true
	}
	return nil, false
}

// mergeEntries returns prev's entries (sorted by key) with the changes
// (sorted by key) applied.
func mergeEntries(prev []*entry, list []change) []*entry {
	out := make([]*entry, 0, len(prev)+len(list))
	i := 0
	for _, c := range list {
		// Few changes, many entries: find each change's place rather
		// than compare every key.
		j := i + sort.Search(len(prev)-i, func(k int) bool { return prev[i+k].key >= c.key })
		out = append(out, prev[i:j]...)
		i = j
		if i < len(prev) && prev[i].key == c.key {
			i++
		}
		if c.cur != nil {
			out = append(out, c.cur)
		}
	}
	return append(out, prev[i:]...)
}

func (d *Snapshot) editNamespace(c change) {
	name := c.any().ref.Name
	if c.cur == nil {
		delete(d.namespaces, name)
		d.delRev("ns:" + name)
		return
	}
	o := c.cur.obj.(*corev1.Namespace)
	d.namespaces[name] = &Namespace{Name: o.Name, Labels: o.Labels}
	d.setRev("ns:"+name, c.cur.rev)
}

func (d *Snapshot) editSecret(c change) {
	ref := c.any().ref
	key := ref.Namespace + "/" + ref.Name
	if c.cur == nil {
		delete(d.secrets, key)
		d.delRev("secret:" + key)
		return
	}
	d.secrets[key] = c.cur.obj.(*corev1.Secret)
	d.setRev("secret:"+key, c.cur.rev)
}

func workloadOf(e *entry) *Workload {
	if e == nil {
		return nil
	}
	switch o := e.obj.(type) {
	case *corev1.Pod:
		return workloadFromPod(o, e.rev)
	case *networkingv1.WorkloadEntry:
		return workloadFromWorkloadEntry(o, e.rev)
	}
	return nil
}

func workloadLess(a, b *Workload) bool { return a.Ref.Key() < b.Ref.Key() }

// insertSorted inserts w into list (sorted by less), in a new slice.
func insertSorted[T any](list []T, w T, less func(a, b T) bool) []T {
	i := sort.Search(len(list), func(i int) bool { return less(w, list[i]) })
	out := make([]T, 0, len(list)+1)
	out = append(out, list[:i]...)
	out = append(out, w)
	return append(out, list[i:]...)
}

// without returns list without the elements drop holds, in a new slice
// (list itself when it holds none).
func without[T comparable](list []T, drop map[T]bool) []T {
	n := 0
	for _, x := range list {
		if drop[x] {
			n++
		}
	}
	if n == 0 {
		return list
	}
	out := make([]T, 0, len(list)-n)
	for _, x := range list {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}

// editWorkloads re-indexes changed Pods and WorkloadEntries: the sorted
// list, the lookups by name and address, and marks the hosts whose
// endpoints read them and the nodes they run on. It reports whether a
// waypoint's pod changed (the waypoints are then indexed again).
func (d *Snapshot) editWorkloads(p *Snapshot, list []change, hosts, nodes map[string]bool) (waypointPod bool) {
	gone := map[*Workload]bool{}
	var added []*Workload
	ips := map[string]bool{}
	lookups := map[string]bool{}
	d.workloadsByNN = maps.Clone(p.workloadsByNN)
	for _, c := range list {
		ref := c.any().ref
		nn := ref.Kind + "/" + ref.Namespace + "/" + ref.Name
		lookups["nn:"+nn] = true
		lookups["sel:"+ref.Namespace] = true
		if old := p.workloadsByNN[nn]; old != nil {
			gone[old] = true
			delete(d.workloadsByNN, nn)
			if old.IP != "" {
				ips[old.IP] = true
			}
			if old.Node != "" {
				nodes[old.Node] = true
			}
			waypointPod = waypointPod || old.Labels[LabelGatewayName] != ""
		}
		if w := workloadOf(c.cur); w != nil {
			added = append(added, w)
			d.workloadsByNN[nn] = w
			if w.IP != "" {
				ips[w.IP] = true
			}
			if w.Node != "" {
				nodes[w.Node] = true
			}
			waypointPod = waypointPod || w.Labels[LabelGatewayName] != ""
		}
	}
	ws := without(p.workloads, gone)
	if len(gone) == 0 {
		ws = append([]*Workload(nil), ws...)
	}
	for _, w := range added {
		ws = insertSorted(ws, w, workloadLess)
	}
	d.workloads = ws
	wrevs := make([]Revision, len(ws))
	for i, w := range ws {
		wrevs[i] = w.Revision
	}
	d.setRev("workloads", RevisionOf(wrevs))

	d.ipAll = maps.Clone(p.ipAll)
	d.workloadsByIP = maps.Clone(p.workloadsByIP)
	for ip := range ips {
		lookups["ip:"+ip] = true
		l := without(p.ipAll[ip], gone)
		for _, w := range added {
			if w.IP == ip {
				l = insertSorted(l, w, workloadLess)
			}
		}
		if len(l) == 0 {
			delete(d.ipAll, ip)
			delete(d.workloadsByIP, ip)
			d.delRev("ip:" + ip)
			continue
		}
		d.ipAll[ip] = l
		d.workloadsByIP[ip] = l[0]
		d.setRev("ip:"+ip, l[0].Revision)
	}
	for l := range lookups {
		for _, h := range p.epReaders[l] {
			hosts[h] = true
		}
	}
	return waypointPod
}

// editSlices re-files changed EndpointSlices under their Service and
// marks its host.
func (d *Snapshot) editSlices(list []change, hosts map[string]bool) {
	d.slices = maps.Clone(d.slices)
	owner := func(e *entry) string {
		if e == nil {
			return ""
		}
		sl := e.obj.(*discoveryv1.EndpointSlice)
		if svc := sl.Labels[discoveryv1.LabelServiceName]; svc != "" {
			return sl.Namespace + "/" + svc
		}
		return ""
	}
	touched := map[string]bool{}
	for _, c := range list {
		for _, o := range []string{owner(c.old), owner(c.cur)} {
			if o != "" {
				touched[o] = true
			}
		}
	}
	// The slices of a Service are in the order of their keys, as Build
	// files them: collect them again from the entries of the touched
	// services' namespaces. Few slices change at once, and a Service has
	// few slices; the entries of one kind and namespace are contiguous.
	for o := range touched {
		ns, name, _ := strings.Cut(o, "/")
		var out []*discoveryv1.EndpointSlice
		prefix := "discovery.k8s.io/EndpointSlice/" + ns + "/"
		i := sort.Search(len(d.entries), func(i int) bool { return d.entries[i].key >= prefix })
		for ; i < len(d.entries) && strings.HasPrefix(d.entries[i].key, prefix); i++ {
			sl := d.entries[i].obj.(*discoveryv1.EndpointSlice)
			if sl.Labels[discoveryv1.LabelServiceName] == name {
				out = append(out, sl)
			}
		}
		if len(out) == 0 {
			delete(d.slices, o)
		} else {
			d.slices[o] = out
		}
		hosts[name+"."+ns+".svc."+d.opts.DomainSuffix] = true
	}
}

// serviceHosts marks the hosts a changed Service or ServiceEntry declared
// and declares, and records its services now.
func (d *Snapshot) serviceHosts(c change, hosts map[string]bool, now map[string][]*Service) {
	hostsOf := func(e *entry) {
		switch o := e.obj.(type) {
		case *corev1.Service:
			hosts[o.Name+"."+o.Namespace+".svc."+d.opts.DomainSuffix] = true
		case *networkingv1.ServiceEntry:
			for _, h := range o.Spec.Hosts {
				hosts[strings.ToLower(h)] = true
			}
		}
	}
	if c.old != nil {
		hostsOf(c.old)
	}
	now[c.key] = nil
	if c.cur == nil {
		return
	}
	hostsOf(c.cur)
	switch o := c.cur.obj.(type) {
	case *corev1.Service:
		now[c.key] = []*Service{serviceFromK8s(o, c.cur.origin, d.opts.DomainSuffix, d.opts.Protocols)}
	case *networkingv1.ServiceEntry:
		now[c.key] = servicesFromServiceEntry(o, c.cur.origin, d.opts.Protocols)
	}
}

// editHosts indexes the given hosts again: their services (those of
// changed objects replaced by now), endpoints and revisions, and the
// sorted service list.
func (d *Snapshot) editHosts(p *Snapshot, hosts map[string]bool, now map[string][]*Service) {
	d.services = maps.Clone(p.services)
	d.endpoints = maps.Clone(p.endpoints)
	d.epReads = maps.Clone(p.epReads)
	d.epReaders = maps.Clone(p.epReaders)
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	listChanged := false
	for h := range hosts {
		old := p.services[h]
		var list []*Service
		for _, sv := range old {
			if _, ok := now[sv.Ref.Key()]; !ok {
				list = append(list, sv)
			}
		}
		for _, k := range keys {
			for _, sv := range now[k] {
				if sv.Hostname == h {
					list = append(list, sv)
				}
			}
		}
		sort.SliceStable(list, func(i, j int) bool { return servicePrecedes(list[i], list[j]) })
		for _, sv := range old {
			for _, port := range sv.Ports {
				key := h + "|" + strconv.FormatUint(uint64(port.Number), 10)
				delete(d.endpoints, key)
				d.delRev("ep:" + key)
			}
		}
		oldReads := p.epReads[h]
		delete(d.epReads, h)
		oldRev := p.revs.at("svc:" + h)
		if len(list) == 0 {
			delete(d.services, h)
			d.delRev("svc:" + h)
			listChanged = listChanged || len(old) > 0
		} else {
			d.services[h] = list
			d.indexHost(h, list)
			listChanged = listChanged || len(old) == 0 || old[0] != list[0] || d.revs.at("svc:"+h) != oldRev
		}
		d.editReaders(h, oldReads, d.epReads[h])
	}
	if !listChanged {
		return
	}
	var changed []string
	for h := range hosts {
		changed = append(changed, h)
	}
	sort.Strings(changed)
	out := make([]*Service, 0, len(p.serviceList)+len(changed))
	i := 0
	for _, h := range changed {
		for i < len(p.serviceList) && p.serviceList[i].Hostname < h {
			out = append(out, p.serviceList[i])
			i++
		}
		if i < len(p.serviceList) && p.serviceList[i].Hostname == h {
			i++
		}
		if l := d.services[h]; len(l) > 0 {
			out = append(out, l[0])
		}
	}
	d.serviceList = append(out, p.serviceList[i:]...)
	allSvc := make([]Revision, len(d.serviceList))
	for i, sv := range d.serviceList {
		allSvc[i] = d.revs.at("svc:" + sv.Hostname)
	}
	d.setRev("services", RevisionOf(allSvc))
}

// editReaders moves host h in the reverse lookup index from the lookups
// it made before to the ones it makes now.
func (d *Snapshot) editReaders(h string, before, now []string) {
	was := map[string]bool{}
	for _, l := range before {
		was[l] = true
	}
	is := map[string]bool{}
	for _, l := range now {
		is[l] = true
		if !was[l] {
			d.epReaders[l] = append(append([]string(nil), d.epReaders[l]...), h)
		}
	}
	for _, l := range before {
		if is[l] {
			continue
		}
		hs := without(d.epReaders[l], map[string]bool{h: true})
		if len(hs) == 0 {
			delete(d.epReaders, l)
		} else {
			d.epReaders[l] = hs
		}
	}
}

// creationLess is sortByCreation's order.
func creationLess(x, y runtime.Object) bool {
	a, b := x.(metav1.Object), y.(metav1.Object)
	ti, tj := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ti.Equal(&tj) {
		return ti.Before(&tj)
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	return a.GetName() < b.GetName()
}

// editRouting re-indexes the changed objects of one routing kind: the
// lists of the hosts and namespaces they named or name, the kind's list,
// and their revisions.
func (d *Snapshot) editRouting(p *Snapshot, k Kind, list []change) {
	gk := k.GroupKind()
	pidx := p.routing[gk]
	idx := &routingIndex{byHost: pidx.byHost.clone(), byNamespace: pidx.byNamespace.clone()}
	gone := map[runtime.Object]bool{}
	var added []*entry
	hosts, nss := map[string]bool{}, map[string]bool{}
	hostsOf := func(e *entry) []string {
		if k.Hosts == nil {
			return nil
		}
		return uniqueHosts(k.Hosts(e.obj), e.ref.Namespace, d.opts.DomainSuffix)
	}
	newHosts := map[*entry][]string{}
	for _, c := range list {
		if c.old != nil {
			gone[c.old.obj] = true
			nss[c.old.ref.Namespace] = true
			for _, h := range hostsOf(c.old) {
				hosts[h] = true
			}
		}
		if c.cur != nil {
			added = append(added, c.cur)
			nss[c.cur.ref.Namespace] = true
			newHosts[c.cur] = hostsOf(c.cur)
			for _, h := range newHosts[c.cur] {
				hosts[h] = true
			}
		}
	}
	sort.Slice(added, func(i, j int) bool { return creationLess(added[i].obj, added[j].obj) })
	revOf := func(o runtime.Object) Revision {
		m := o.(metav1.Object)
		if e, ok := d.objects.get(ObjectRef{Group: gk.Group, Kind: gk.Kind, Namespace: m.GetNamespace(), Name: m.GetName()}.Key()); ok {
			return e.rev
		}
		return ""
	}
	revsOf := func(l []runtime.Object) []Revision {
		out := make([]Revision, len(l))
		for i, o := range l {
			out[i] = revOf(o)
		}
		return out
	}
	relist := func(l []runtime.Object, keep func(*entry) bool) []runtime.Object {
		l = without(l, gone)
		for _, e := range added {
			if keep(e) {
				l = insertSorted(l, e.obj, creationLess)
			}
		}
		return l
	}
	// store keeps a relisted index entry and its dependency revision, or
	// drops both when nothing is left under the key.
	store := func(m *cowMap[[]runtime.Object], k, revKey string, l []runtime.Object) {
		if len(l) == 0 {
			m.del(k)
			d.delRev(revKey)
			return
		}
		m.set(k, l)
		d.setRev(revKey, RevisionOf(revsOf(l)))
	}
	for ns := range nss {
		l := relist(pidx.byNamespace.get(ns), func(e *entry) bool { return e.ref.Namespace == ns })
		store(idx.byNamespace, ns, namespaceKey(gk, ns), l)
	}
	for h := range hosts {
		l := relist(pidx.byHost.get(h), func(e *entry) bool { return slices.Contains(newHosts[e], h) })
		store(idx.byHost, h, hostKey(gk, h), l)
	}
	// The kind's list, with its revisions alongside.
	all := make([]runtime.Object, 0, len(pidx.all)+len(added))
	allRevs := make([]Revision, 0, len(pidx.all)+len(added))
	for i, o := range pidx.all {
		if !gone[o] {
			all = append(all, o)
			allRevs = append(allRevs, pidx.allRevs[i])
		}
	}
	for _, e := range added {
		i := sort.Search(len(all), func(i int) bool { return creationLess(e.obj, all[i]) })
		// In place: both have room for every added object (a copy of the
		// tail per insert was 160 KB per MetaRouter edit at 10,000).
		all = slices.Insert(all, i, e.obj)
		allRevs = slices.Insert(allRevs, i, e.rev)
	}
	if len(all) == 0 {
		all, allRevs = nil, []Revision{}
	}
	idx.all, idx.allRevs = all, allRevs
	d.setRev(listKey(gk), RevisionOf(allRevs))
	d.routing[gk] = idx

	switch gk {
	case gkDestinationRule:
		d.drs = retype[*networkingv1.DestinationRule](p.drs, idx.byHost, hosts)
	case gkVirtualService:
		d.vss = retype[*networkingv1.VirtualService](p.vss, idx.byHost, hosts)
	case gkMetaRouter:
		d.mrs = retype[*metaprotocolv1alpha1.MetaRouter](p.mrs, idx.byHost, hosts)
		d.mrList = typedList[*metaprotocolv1alpha1.MetaRouter](idx.all)
	case gkApplicationProtocol:
		d.apList = typedList[*metaprotocolv1alpha1.ApplicationProtocol](idx.all)
		for proto := range p.aps {
			d.delRev(protocolKey(proto))
		}
		d.aps = map[string]*metaprotocolv1alpha1.ApplicationProtocol{}
		var aps []*entry
		prefix := gk.Group + "/" + gk.Kind + "/"
		i := sort.Search(len(d.entries), func(i int) bool { return d.entries[i].key >= prefix })
		for ; i < len(d.entries) && strings.HasPrefix(d.entries[i].key, prefix); i++ {
			aps = append(aps, d.entries[i])
		}
		for pr, e := range protocolWinners(aps) {
			d.aps[pr] = e.obj.(*metaprotocolv1alpha1.ApplicationProtocol)
			d.setRev(protocolKey(pr), RevisionOf([]Revision{e.rev}))
		}
	}
}

// retype is typedIndex for the given hosts of byHost, the others taken from prev.
func retype[T runtime.Object](prev *cowMap[[]T], byHost *cowMap[[]runtime.Object], hosts map[string]bool) *cowMap[[]T] {
	out := prev.clone()
	for h := range hosts {
		if l, ok := byHost.lookup(h); ok {
			out.set(h, typedList[T](l))
		} else {
			out.del(h)
		}
	}
	return out
}

// editNodes re-lists the pods of the given nodes.
func (d *Snapshot) editNodes(p *Snapshot, nodes map[string]bool) {
	a := *p.ambient
	a.byNode = maps.Clone(p.ambient.byNode)
	setChanged := false
	for n := range nodes {
		var l []*Workload
		for _, w := range d.workloads {
			if w.Node == n {
				l = append(l, w)
			}
		}
		if len(l) == 0 {
			if _, ok := a.byNode[n]; ok {
				delete(a.byNode, n)
				setChanged = true
			}
			d.delRev("node:" + n)
			continue
		}
		if _, ok := a.byNode[n]; !ok {
			setChanged = true
		}
		a.byNode[n] = l
		nrevs := make([]Revision, len(l))
		for i, w := range l {
			nrevs[i] = w.Revision
		}
		d.setRev("node:"+n, RevisionOf(nrevs))
	}
	if setChanged {
		a.nodes = nil
		for n := range a.byNode {
			a.nodes = append(a.nodes, n)
		}
		sort.Strings(a.nodes)
	}
	d.ambient = &a
}
