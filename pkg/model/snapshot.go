package model

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// ObjectInfo is one object of a Snapshot with where it came from.
type ObjectInfo struct {
	// Ref names the object.
	Ref ObjectRef
	// Origin is the file and document, in file mode.
	Origin Origin
	// Revision is the content hash of the object.
	Revision Revision
	// Object is the decoded object. Read-only.
	Object runtime.Object
}

// Snapshot is an immutable, indexed view of the whole mesh at one moment.
// All methods are safe for concurrent use.
type Snapshot struct {
	opts    Options
	kinds   *KindIndex
	objects objectMap

	services      map[string][]*Service // by hostname, preferred first
	serviceList   []*Service            // sorted by hostname
	endpoints     map[string][]Endpoint // by hostname|port
	drs           *cowMap[[]*networkingv1.DestinationRule]
	vss           *cowMap[[]*networkingv1.VirtualService]
	mrs           *cowMap[[]*metaprotocolv1alpha1.MetaRouter]
	mrList        []*metaprotocolv1alpha1.MetaRouter
	aps           map[string]*metaprotocolv1alpha1.ApplicationProtocol
	apList        []*metaprotocolv1alpha1.ApplicationProtocol
	routing       map[schema.GroupKind]*routingIndex // every routing kind, core or a plugin's
	secrets       map[string]*corev1.Secret
	workloads     []*Workload
	workloadsByIP map[string]*Workload
	workloadsByNN map[string]*Workload
	namespaces    map[string]*Namespace
	gateways      []*gatewayv1.Gateway
	ambient       *ambientIndex

	revs revMap // dependency key -> revision
	// unset holds the namespace keys of routing kinds that views
	// recorded and the snapshot does not have (lookups of a namespace's
	// policies that find none, which every unit makes), so they are
	// recorded as one string each rather than a copy per unit. Derived
	// snapshots share it.
	unset *keyTable

	entries []*entry // what Build indexed, sorted by key; for Without and Edit

	// What an Edit needs to re-index only what a change touches: the
	// EndpointSlices of each Service (by namespace/name), every workload
	// of an address (the first one wins workloadsByIP), and which
	// workload lookups each host's endpoints made (host -> lookup keys,
	// and the reverse), so a changed workload re-indexes the hosts that
	// read it.
	slices    map[string][]*discoveryv1.EndpointSlice
	ipAll     map[string][]*Workload
	epReads   map[string][]string
	epReaders map[string][]string
	derivable bool                // built by Build or an Edit (not Without): entries are sorted and the maps above complete
	lineage   []step              // how this snapshot was derived from its recent ancestors, newest first
	touched   map[string]struct{} // while derived: the dependency keys written
}

func newSnapshot(opts Options, kinds *KindIndex) *Snapshot {
	return &Snapshot{
		opts:          opts,
		kinds:         kinds,
		objects:       objectMap{base: map[string]*entry{}},
		services:      map[string][]*Service{},
		endpoints:     map[string][]Endpoint{},
		drs:           newCowMap[[]*networkingv1.DestinationRule](),
		vss:           newCowMap[[]*networkingv1.VirtualService](),
		mrs:           newCowMap[[]*metaprotocolv1alpha1.MetaRouter](),
		aps:           map[string]*metaprotocolv1alpha1.ApplicationProtocol{},
		routing:       map[schema.GroupKind]*routingIndex{},
		secrets:       map[string]*corev1.Secret{},
		workloadsByIP: map[string]*Workload{},
		workloadsByNN: map[string]*Workload{},
		namespaces:    map[string]*Namespace{},
		revs:          newRevMap(),
		unset:         &keyTable{keys: map[string]string{}},
		slices:        map[string][]*discoveryv1.EndpointSlice{},
		ipAll:         map[string][]*Workload{},
		epReads:       map[string][]string{},
		epReaders:     map[string][]string{},
	}
}

// Without returns a snapshot holding the same objects except the ones
// named in drop (by ObjectRef.Key). The translator uses it to keep
// objects that failed validation away from every plugin.
func (s *Snapshot) Without(drop map[string]bool) *Snapshot {
	if len(drop) == 0 {
		return s
	}
	if s.derivable {
		// An Edit that deletes them: only what they are part of is
		// indexed again, and Diff between two such snapshots works from
		// the changes that lead from one to the other.
		changes := make(map[string]*entry, len(drop))
		for k := range drop {
			changes[k] = nil
		}
		return s.derive(changes, maxEditFraction)
	}
	kept := make([]*entry, 0, len(s.entries))
	routingOnly := true
	for _, e := range s.entries {
		if drop[e.ref.Key()] {
			routingOnly = routingOnly && s.isRoutingKind(e.ref)
			continue
		}
		kept = append(kept, e)
	}
	out := newSnapshot(s.opts, s.kinds)
	for _, e := range kept {
		out.objects.base[e.key] = e
	}
	if !routingOnly {
		out.index(kept)
		return out
	}
	// Only routing objects go (the usual case: invalid MetaRouters): the
	// services, endpoints, workloads and waypoints are those of s, shared
	// read-only, and only the routing indexes are built again.
	out.entries = kept
	out.services, out.serviceList, out.endpoints = s.services, s.serviceList, s.endpoints
	out.secrets, out.namespaces, out.gateways, out.ambient = s.secrets, s.namespaces, s.gateways, s.ambient
	out.workloads, out.workloadsByIP, out.workloadsByNN = s.workloads, s.workloadsByIP, s.workloadsByNN
	out.slices, out.ipAll, out.epReads, out.epReaders = s.slices, s.ipAll, s.epReads, s.epReaders
	for k, r := range s.revs.all() {
		if !strings.HasPrefix(k, routingPrefix) {
			out.revs.set(k, r)
		}
	}
	out.indexRouting(kept)
	return out
}

// Kinds returns the kinds the snapshot reads: the core's and the plugins'.
func (s *Snapshot) Kinds() *KindIndex { return s.kinds }

// Options returns the mesh settings the snapshot was built with.
func (s *Snapshot) Options() Options { return s.opts }

// Objects returns every object of the snapshot, sorted by kind, namespace and name.
func (s *Snapshot) Objects() []ObjectInfo {
	// The entries are kept sorted by key (Build sorts them once, an Edit
	// merges its changes in, Without keeps a subsequence): this runs on
	// every translation and status pass, over every object of the mesh.
	out := make([]ObjectInfo, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.info()
	}
	return out
}

// Object returns one object by reference.
func (s *Snapshot) Object(ref ObjectRef) (ObjectInfo, bool) {
	return s.objects.info(ref.Key())
}

// ObjectsOfKind returns the objects of one kind, sorted by namespace and
// name: what a caller interested in one kind (the status writer, in
// every generation) reads without going over every object of the mesh.
func (s *Snapshot) ObjectsOfKind(group, kind string) []ObjectInfo {
	prefix := group + "/" + kind + "/"
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].key >= prefix })
	var out []ObjectInfo
	for ; i < len(s.entries) && strings.HasPrefix(s.entries[i].key, prefix); i++ {
		e := s.entries[i]
		out = append(out, e.info())
	}
	return out
}

// Len returns how many objects the snapshot holds.
func (s *Snapshot) Len() int { return len(s.entries) }

// View returns an untracked read-only view of the snapshot.
func (s *Snapshot) View() *View { return &View{snap: s} }

// TrackedView returns a view that records every key it is asked for into
// deps, with the revision it saw. The translator uses the record to decide
// whether a later snapshot changes what was built from this one.
func (s *Snapshot) TrackedView(deps Deps) *View { return &View{snap: s, deps: deps} }

// TrackedViewLocked is TrackedView for a build that reads from several
// goroutines (a ProxyBuilder fanning out its lookups): every record into
// deps is made holding mu, the lock the caller's other writers of deps
// (the translator's L7 callback) hold too.
func (s *Snapshot) TrackedViewLocked(deps Deps, mu *sync.Mutex) *View {
	return &View{snap: s, deps: deps, mu: mu}
}

// Revision returns the current revision of a dependency key recorded by a
// tracked View ("" when nothing is there).
func (s *Snapshot) Revision(key string) Revision { return s.revs.at(key) }

// DependencyKeys returns how many dependency keys the snapshot has, for
// a caller deciding whether a Diff is small enough to work from.
func (s *Snapshot) DependencyKeys() int { return s.revs.len() }

// Deps is the set of snapshot keys a build read, with the revision each
// had. Keys are opaque strings owned by this package.
type Deps map[string]Revision

// Changed reports whether any key in d has another revision in snap.
func (d Deps) Changed(snap *Snapshot) bool {
	for k, r := range d {
		if snap.revs.at(k) != r {
			return true
		}
	}
	return false
}

// Diff lists the dependency keys whose revision differs between two
// snapshots: what a change touched. A nil old snapshot means everything.
func Diff(old, cur *Snapshot) []string {
	var out []string
	if old == nil {
		for k := range cur.revs.all() {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if keys, ok := cur.changedSince(old); ok {
		// cur was derived from old by Edits: only the keys they wrote
		// can differ.
		for _, k := range keys {
			o, inOld := old.revs.get(k)
			n, inCur := cur.revs.get(k)
			if inCur && o != n || !inCur && inOld {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	// One pass over cur; old is walked for keys that went only when some
	// of its keys were not met in cur (the translator diffs every
	// snapshot against the last, so this pass is on every edit's path).
	met := 0
	for k, r := range cur.revs.all() {
		o, ok := old.revs.get(k)
		if ok {
			met++
		}
		if o != r {
			out = append(out, k)
		}
	}
	if met < old.revs.len() {
		for k := range old.revs.all() {
			if _, ok := cur.revs.get(k); !ok {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (s *Snapshot) index(entries []*entry) {
	s.entries = entries
	var (
		k8sServices []*entry
		slices      = s.slices // ns/service -> slices
		ses         []*entry
		wes         []*entry
		gwRefs      []ObjectRef
	)
	for _, e := range entries {
		switch o := e.obj.(type) {
		case *corev1.Namespace:
			s.namespaces[o.Name] = &Namespace{Name: o.Name, Labels: o.Labels}
			s.setRev("ns:"+o.Name, e.rev)
		case *corev1.Pod:
			if w := workloadFromPod(o, e.rev); w != nil {
				s.workloads = append(s.workloads, w)
			}
		case *corev1.Secret:
			s.secrets[o.Namespace+"/"+o.Name] = o
			s.setRev("secret:"+o.Namespace+"/"+o.Name, e.rev)
		case *corev1.Service:
			k8sServices = append(k8sServices, e)
		case *discoveryv1.EndpointSlice:
			if svc := o.Labels[discoveryv1.LabelServiceName]; svc != "" {
				slices[o.Namespace+"/"+svc] = append(slices[o.Namespace+"/"+svc], o)
			}
		case *networkingv1.ServiceEntry:
			ses = append(ses, e)
		case *networkingv1.WorkloadEntry:
			wes = append(wes, e)
		case *gatewayv1.Gateway:
			s.gateways = append(s.gateways, o)
			gwRefs = append(gwRefs, e.ref)
		}
	}
	for _, e := range wes {
		if w := workloadFromWorkloadEntry(e.obj.(*networkingv1.WorkloadEntry), e.rev); w != nil {
			s.workloads = append(s.workloads, w)
		}
	}
	sort.Slice(s.workloads, func(i, j int) bool { return s.workloads[i].Ref.Key() < s.workloads[j].Ref.Key() })
	wrevs := make([]Revision, len(s.workloads))
	for i, w := range s.workloads {
		wrevs[i] = w.Revision
	}
	s.setRev("workloads", RevisionOf(wrevs))
	for _, w := range s.workloads {
		s.workloadsByNN[w.Ref.Kind+"/"+w.Namespace+"/"+w.Name] = w
		if w.IP != "" {
			s.ipAll[w.IP] = append(s.ipAll[w.IP], w)
			if _, taken := s.workloadsByIP[w.IP]; !taken {
				s.workloadsByIP[w.IP] = w
				s.setRev("ip:"+w.IP, w.Revision)
			}
		}
	}
	sort.Slice(gwRefs, func(i, j int) bool { return gwRefs[i].Key() < gwRefs[j].Key() })
	s.reviseList("gateways", gwRefs)

	for _, e := range k8sServices {
		s.addService(serviceFromK8s(e.obj.(*corev1.Service), e.origin, s.opts.DomainSuffix, s.opts.Protocols))
	}
	for _, e := range ses {
		for _, svc := range servicesFromServiceEntry(e.obj.(*networkingv1.ServiceEntry), e.origin, s.opts.Protocols) {
			s.addService(svc)
		}
	}
	for host, list := range s.services {
		sort.SliceStable(list, func(i, j int) bool { return servicePrecedes(list[i], list[j]) })
		s.serviceList = append(s.serviceList, list[0])
		s.indexHost(host, list)
		for _, l := range s.epReads[host] {
			s.epReaders[l] = append(s.epReaders[l], host)
		}
	}
	sort.Slice(s.serviceList, func(i, j int) bool { return s.serviceList[i].Hostname < s.serviceList[j].Hostname })
	allSvc := make([]Revision, len(s.serviceList))
	for i, sv := range s.serviceList {
		allSvc[i] = s.revs.at("svc:" + sv.Hostname)
	}
	s.setRev("services", RevisionOf(allSvc))

	s.indexRouting(entries)
	s.indexAmbient()
}

// reviseList records the revision of a list of objects under key.
func (s *Snapshot) reviseList(key string, refs []ObjectRef) {
	revs := make([]Revision, len(refs))
	for i, r := range refs {
		if e, ok := s.objects.get(r.Key()); ok {
			revs[i] = e.rev
		}
	}
	s.setRev(key, RevisionOf(revs))
}

func (s *Snapshot) addService(svc *Service) {
	s.services[svc.Hostname] = append(s.services[svc.Hostname], svc)
}

// indexHost records the revision of a host's services (list, sorted by
// precedence) and indexes its endpoints: for each port, those of the
// first service in precedence order that has any for it. It records which
// workload lookups that made (epReads) for Edit.
func (s *Snapshot) indexHost(host string, list []*Service) {
	revs := make([]Revision, len(list))
	for i, sv := range list {
		revs[i] = sv.Revision
	}
	s.setRev("svc:"+host, RevisionOf(revs))
	var reads []string
	read := func(k string) { reads = append(reads, k) }
	for _, svc := range list {
		var eps map[uint32][]Endpoint
		if svc.Ref.Kind == "Service" {
			eps = s.k8sEndpoints(svc, s.slices[svc.Namespace+"/"+svc.Ref.Name], read)
		} else {
			var se *networkingv1.ServiceEntry
			if e, ok := s.objects.get(svc.Ref.Key()); ok {
				se, _ = e.obj.(*networkingv1.ServiceEntry)
			}
			if se == nil {
				continue
			}
			eps = s.serviceEntryEndpoints(svc, se, read)
		}
		for port, list := range eps {
			key := host + "|" + strconv.FormatUint(uint64(port), 10)
			if _, ok := s.endpoints[key]; ok {
				continue
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Address < list[j].Address })
			s.endpoints[key] = list
			s.setRev("ep:"+key, RevisionOf(list))
		}
	}
	if len(reads) > 0 {
		sort.Strings(reads)
		reads = slices.Compact(reads)
		s.epReads[host] = reads
	}
}

// servicePrecedes orders two services that claim the same hostname:
// Kubernetes Services before ServiceEntries, then by namespace and name.
func servicePrecedes(a, b *Service) bool {
	if (a.Ref.Kind == "Service") != (b.Ref.Kind == "Service") {
		return a.Ref.Kind == "Service"
	}
	return a.Ref.Key() < b.Ref.Key()
}

func uniqueHosts(hosts []string, ns, suffix string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hosts {
		r := ResolveHost(h, ns, suffix)
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// sortByCreation orders objects the way Istio merges routing objects:
// oldest first, then by namespace and name, so the result does not depend
// on the order a source delivered them in.
func sortByCreation(list []*entry) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].obj.(metav1.Object), list[j].obj.(metav1.Object)
		ti, tj := a.GetCreationTimestamp(), b.GetCreationTimestamp()
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

// ObjectByKey returns one object by ObjectRef.Key.
func (s *Snapshot) ObjectByKey(key string) (ObjectInfo, bool) {
	return s.objects.info(key)
}

// objectMap is a snapshot's objects by key: a base map shared with the
// snapshots it was derived from, and the changes since on top (nil: the
// object is gone), so deriving a snapshot does not copy every object.
// It holds the entries of the snapshot's entries list, not copies of
// them: a map of ObjectInfo values (120 bytes each, four of them
// pointers) beside that list was 9 MB of the heap the collector scans at
// 10,000 services.
type objectMap struct {
	base  map[string]*entry
	delta map[string]*entry
}

func (m objectMap) get(key string) (*entry, bool) {
	if e, ok := m.delta[key]; ok {
		return e, e != nil
	}
	e, ok := m.base[key]
	return e, ok
}

// info is the ObjectInfo of key.
func (m objectMap) info(key string) (ObjectInfo, bool) {
	e, ok := m.get(key)
	if !ok {
		return ObjectInfo{}, false
	}
	return e.info(), true
}

// info is the entry as the ObjectInfo callers are given.
func (e *entry) info() ObjectInfo {
	return ObjectInfo{Ref: e.ref, Origin: e.origin, Revision: e.rev, Object: e.obj}
}

// with returns the map with changes applied (nil deletes). The changes
// pile up on the shared base until they are an eighth of it; then the
// base is copied with them.
func (m objectMap) with(changes map[string]*entry) objectMap {
	delta := make(map[string]*entry, len(m.delta)+len(changes))
	for k, e := range m.delta {
		delta[k] = e
	}
	for k, e := range changes {
		delta[k] = e
	}
	if len(delta)*8 <= len(m.base) {
		return objectMap{base: m.base, delta: delta}
	}
	base := make(map[string]*entry, len(m.base)+len(delta))
	for k, e := range m.base {
		base[k] = e
	}
	for k, e := range delta {
		if e == nil {
			delete(base, k)
		} else {
			base[k] = e
		}
	}
	return objectMap{base: base}
}
