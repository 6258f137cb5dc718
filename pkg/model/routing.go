package model

import (
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// routingIndex holds the objects of one routing kind, each list ordered
// the way Istio merges routing objects (sortByCreation).
type routingIndex struct {
	byHost      *cowMap[[]runtime.Object] // by resolved host (kinds with Hosts)
	byNamespace *cowMap[[]runtime.Object]
	all         []runtime.Object
	allRevs     []Revision // the revisions of all, for an Edit
}

// Dependency keys of the routing indexes. Every one starts with
// routingPrefix, so Without can tell them from the mesh's keys.
const routingPrefix = "r:"

// The keys of a kind's index name the kind as schema.GroupKind.String
// does, "<Kind>.<group>" ("<Kind>" in the core group), written in the one
// concatenation (or buffer) of the key.
func hostKey(gk schema.GroupKind, host string) string {
	return routingPrefix + gk.Kind + groupSep(gk) + gk.Group + "@" + host
}
func namespaceKey(gk schema.GroupKind, ns string) string {
	return routingPrefix + gk.Kind + groupSep(gk) + gk.Group + "#" + ns
}
func listKey(gk schema.GroupKind) string { return routingPrefix + gk.Kind + groupSep(gk) + gk.Group }

// groupSep is what separates the kind from the group in GroupKind.String.
func groupSep(gk schema.GroupKind) string {
	if gk.Group == "" {
		return ""
	}
	return "."
}

// trackHost records a read of hostKey(gk, host).
func (v *View) trackHost(gk schema.GroupKind, host string) {
	v.track(routingPrefix, gk.Kind, groupSep(gk), gk.Group, "@", host)
}

// trackList records a read of listKey(gk).
func (v *View) trackList(gk schema.GroupKind) {
	v.track(routingPrefix, gk.Kind, groupSep(gk), gk.Group)
}

// protocolKey is the key of the ApplicationProtocol that defines a
// meta-protocol name.
func protocolKey(p string) string { return routingPrefix + protocolPrefix + p }

const protocolPrefix = "protocol:"

// isRoutingKind reports whether the object configures routing rather than
// describes the mesh: dropping one changes only the routing indexes.
func (s *Snapshot) isRoutingKind(ref ObjectRef) bool {
	k, ok := s.kinds.byGK[schema.GroupKind{Group: ref.Group, Kind: ref.Kind}]
	return ok && k.Routing
}

// indexRouting indexes the objects of every routing kind by the hosts
// they name and by namespace, and records the revisions of those lists.
func (s *Snapshot) indexRouting(entries []*entry) {
	byKind := map[schema.GroupKind][]*entry{}
	for _, e := range entries {
		gk := schema.GroupKind{Group: e.ref.Group, Kind: e.ref.Kind}
		if k, ok := s.kinds.byGK[gk]; ok && k.Routing {
			byKind[gk] = append(byKind[gk], e)
		}
	}
	for _, k := range s.kinds.list {
		if !k.Routing {
			continue
		}
		gk := k.GroupKind()
		list := byKind[gk]
		sortByCreation(list)
		idx := &routingIndex{byHost: newCowMap[[]runtime.Object](), byNamespace: newCowMap[[]runtime.Object]()}
		hostRevs := map[string][]Revision{}
		nsRevs := map[string][]Revision{}
		all := make([]Revision, 0, len(list))
		for _, e := range list {
			idx.all = append(idx.all, e.obj)
			all = append(all, e.rev)
			idx.byNamespace.set(e.ref.Namespace, append(idx.byNamespace.get(e.ref.Namespace), e.obj))
			nsRevs[e.ref.Namespace] = append(nsRevs[e.ref.Namespace], e.rev)
			if k.Hosts == nil {
				continue
			}
			for _, h := range uniqueHosts(k.Hosts(e.obj), e.ref.Namespace, s.opts.DomainSuffix) {
				idx.byHost.set(h, append(idx.byHost.get(h), e.obj))
				hostRevs[h] = append(hostRevs[h], e.rev)
			}
		}
		for h, r := range hostRevs {
			s.setRev(hostKey(gk, h), RevisionOf(r))
		}
		for ns, r := range nsRevs {
			s.setRev(namespaceKey(gk, ns), RevisionOf(r))
		}
		s.setRev(listKey(gk), RevisionOf(all))
		idx.allRevs = all
		s.routing[gk] = idx
	}
	s.indexCoreRouting(byKind[gkApplicationProtocol])
}

// indexCoreRouting keeps typed copies of the core's routing indexes, which
// every unit build reads, and the ApplicationProtocol of each protocol
// name (the oldest-named one wins).
func (s *Snapshot) indexCoreRouting(aps []*entry) {
	s.drs = typedIndex[*networkingv1.DestinationRule](s.routing[gkDestinationRule].byHost)
	s.vss = typedIndex[*networkingv1.VirtualService](s.routing[gkVirtualService].byHost)
	s.mrs = typedIndex[*metaprotocolv1alpha1.MetaRouter](s.routing[gkMetaRouter].byHost)
	s.mrList = typedList[*metaprotocolv1alpha1.MetaRouter](s.routing[gkMetaRouter].all)
	s.apList = typedList[*metaprotocolv1alpha1.ApplicationProtocol](s.routing[gkApplicationProtocol].all)
	for p, e := range protocolWinners(aps) {
		s.aps[p] = e.obj.(*metaprotocolv1alpha1.ApplicationProtocol)
		s.setRev(protocolKey(p), RevisionOf([]Revision{e.rev}))
	}
}

func typedIndex[T runtime.Object](m *cowMap[[]runtime.Object]) *cowMap[[]T] {
	out := newCowMap[[]T]()
	for k, l := range m.all() {
		out.set(k, typedList[T](l))
	}
	return out
}

func typedList[T runtime.Object](l []runtime.Object) []T {
	if len(l) == 0 {
		return nil
	}
	out := make([]T, len(l))
	for i, o := range l {
		out[i] = o.(T)
	}
	return out
}

// ObjectsForHost returns the objects of a routing kind that name a
// hostname, oldest first, and records the read: a plugin's own kinds are
// found the way the core finds MetaRouters. Nil for a kind the snapshot
// does not read or that has no Hosts.
func (v *View) ObjectsForHost(gk schema.GroupKind, hostname string) []runtime.Object {
	v.trackHost(gk, hostname)
	if idx := v.snap.routing[gk]; idx != nil {
		return idx.byHost.get(hostname)
	}
	return nil
}

// ObjectsInNamespace returns the objects of a routing kind in a namespace,
// oldest first, and records the read.
func (v *View) ObjectsInNamespace(gk schema.GroupKind, namespace string) []runtime.Object {
	v.track(routingPrefix, gk.Kind, groupSep(gk), gk.Group, "#", namespace)
	if idx := v.snap.routing[gk]; idx != nil {
		return idx.byNamespace.get(namespace)
	}
	return nil
}

// ObjectsOfKind returns every object of a routing kind, oldest first, and
// records the read: the caller depends on all of them.
func (v *View) ObjectsOfKind(gk schema.GroupKind) []runtime.Object {
	v.trackList(gk)
	if idx := v.snap.routing[gk]; idx != nil {
		return idx.all
	}
	return nil
}

// ForHost is ObjectsForHost for a plugin's typed helpers: the objects as
// T, the kind's Go type.
func ForHost[T runtime.Object](v *View, gk schema.GroupKind, hostname string) []T {
	return typedList[T](v.ObjectsForHost(gk, hostname))
}

// InNamespace is ObjectsInNamespace as T.
func InNamespace[T runtime.Object](v *View, gk schema.GroupKind, namespace string) []T {
	return typedList[T](v.ObjectsInNamespace(gk, namespace))
}

// OfKind is ObjectsOfKind as T.
func OfKind[T runtime.Object](v *View, gk schema.GroupKind) []T {
	return typedList[T](v.ObjectsOfKind(gk))
}

// protocolWinners picks, for each protocol name (lower-cased), the
// ApplicationProtocol that defines it: the one with the lowest name when
// several claim the same protocol, so the choice does not depend on the
// order objects arrived in. Build and Edit both index through it.
func protocolWinners(aps []*entry) map[string]*entry {
	winner := map[string]*entry{}
	for _, e := range aps {
		ap := e.obj.(*metaprotocolv1alpha1.ApplicationProtocol)
		p := strings.ToLower(ap.Spec.Protocol)
		if prev, ok := winner[p]; !ok || ap.Name < prev.ref.Name {
			winner[p] = e
		}
	}
	return winner
}
