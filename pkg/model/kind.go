package model

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aeraki-ng/aeraki/api/conditions"
)

// Kind describes one kind of object the model reads. Everything that
// handles objects by kind reads it: the file and Kubernetes sources (what
// to decode and watch), the snapshot indexer (how to find the objects a
// build asks for), validation (which objects plugins check) and the
// status writer (which objects get conditions). Adding a kind is adding a
// Kind value, in the core's list (CoreKinds) or in a plugin's Kinds, not
// editing those places.
type Kind struct {
	// GVK is the group, version and kind. The Kubernetes source watches
	// this version; files may also use FileVersions.
	GVK schema.GroupVersionKind
	// FileVersions are further apiVersions accepted in files, for kinds
	// whose versions share one schema (Istio's v1alpha3, v1beta1, v1).
	FileVersions []string
	// Resource is the plural resource name ("metarouters"): the
	// Kubernetes source's GroupVersionResource and the RBAC rule the
	// chart must grant.
	Resource string
	// Namespaced is false for cluster-scoped kinds (Namespace,
	// ApplicationProtocol).
	Namespaced bool
	// New returns an empty object of the kind, the type files decode into
	// and Kubernetes lists are made of.
	New func() runtime.Object
	// AddToScheme registers the Go types of the kind's API group (its
	// object and list), for the Kubernetes client and cache.
	AddToScheme func(*runtime.Scheme) error
	// Routing marks kinds that configure traffic rather than describe the
	// mesh: plugins validate them, an invalid one is left out of the
	// build, and the indexer makes them findable by host (Hosts) and by
	// namespace.
	Routing bool
	// Hosts returns the hosts a routing object applies to, as written
	// (short names are completed against the object's namespace). Nil for
	// a routing kind that applies to its whole namespace.
	Hosts func(runtime.Object) []string
	// Status returns the object's status, which aeraki keeps up to date
	// with Accepted, ResolvedRefs and Programmed conditions. Nil: aeraki
	// writes no status for the kind.
	Status func(runtime.Object) *conditions.Status
	// ReadStatus lists the status fields the model reads (a Pod's IPs);
	// the rest of a status is bookkeeping that must not count as a change.
	ReadStatus []string
	// Trim clears, in place, the fields of an object of the kind that
	// nothing reads, for a source that keeps every object in memory (the
	// Kubernetes source's informer cache; KindIndex.Trim). Nil: every
	// field is kept, as it must be for kinds plugins read (they may read
	// any field) and kinds with a Status. It must be idempotent and keep
	// whatever reads the kind outside this package.
	Trim func(runtime.Object)
}

// GroupKind is the kind's group and kind, the key the model and the
// sources know it by.
func (k Kind) GroupKind() schema.GroupKind { return k.GVK.GroupKind() }

// String names the kind the way kubectl does ("MetaRouter.metaprotocol.aeraki.io").
func (k Kind) String() string {
	if k.GVK.Group == "" {
		return k.GVK.Kind
	}
	return k.GVK.Kind + "." + k.GVK.Group
}

// AcceptsVersion reports whether a file may declare an object of the kind
// with this version.
func (k Kind) AcceptsVersion(v string) bool {
	if v == k.GVK.Version {
		return true
	}
	for _, fv := range k.FileVersions {
		if fv == v {
			return true
		}
	}
	return false
}

// Validate reports what is missing from a descriptor, so a plugin with an
// incomplete kind fails at start-up instead of when an object arrives.
func (k Kind) Validate() error {
	var errs []error
	if k.GVK.Kind == "" || k.GVK.Version == "" {
		errs = append(errs, errors.New("GVK needs a version and a kind"))
	}
	if k.Resource == "" {
		errs = append(errs, errors.New("Resource (the plural name) is required"))
	}
	if k.New == nil {
		errs = append(errs, errors.New("New is required"))
	} else if o := k.New(); o == nil {
		errs = append(errs, errors.New("New returned nil"))
	} else if _, ok := o.(interface{ GetName() string }); !ok {
		errs = append(errs, fmt.Errorf("New returns %T, which has no object metadata", o))
	}
	if k.AddToScheme == nil {
		errs = append(errs, errors.New("AddToScheme is required"))
	}
	if k.Hosts != nil && !k.Routing {
		errs = append(errs, errors.New("Hosts is only read for Routing kinds"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kind %s: %w", k, err)
	}
	return nil
}

// KindIndex is the set of kinds a snapshot reads (the core's and the
// plugins'), found by group/kind or by an object's Go type. It never
// changes once made, so it is safe for concurrent use.
type KindIndex struct {
	byGK   map[schema.GroupKind]Kind
	byType map[reflect.Type]Kind
	list   []Kind // sorted by group/kind
}

// NewKindIndex merges the core kinds with extra ones (Options.Kinds). A
// later kind with the group/kind of an earlier one is ignored: the plugin
// registry refuses such duplicates before they get here.
func NewKindIndex(extra []Kind) *KindIndex {
	ks := &KindIndex{byGK: map[schema.GroupKind]Kind{}, byType: map[reflect.Type]Kind{}}
	for _, k := range append(CoreKinds(), extra...) {
		gk := k.GroupKind()
		if _, dup := ks.byGK[gk]; dup || k.New == nil {
			continue
		}
		ks.byGK[gk] = k
		ks.byType[reflect.TypeOf(k.New())] = k
		ks.list = append(ks.list, k)
	}
	sort.Slice(ks.list, func(i, j int) bool { return ks.list[i].String() < ks.list[j].String() })
	return ks
}

// ofObject finds the kind of an object by its TypeMeta or, when that is
// empty (typed objects from a client's cache), by its Go type.
func (ks *KindIndex) ofObject(obj runtime.Object) (Kind, bool) {
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind != "" {
		k, ok := ks.byGK[gvk.GroupKind()]
		return k, ok
	}
	k, ok := ks.byType[reflect.TypeOf(obj)]
	return k, ok
}

// Lookup returns the kind with this group and kind.
func (ks *KindIndex) Lookup(group, kind string) (Kind, bool) {
	k, ok := ks.byGK[schema.GroupKind{Group: group, Kind: kind}]
	return k, ok
}

// All returns every kind, sorted by name.
func (ks *KindIndex) All() []Kind { return append([]Kind(nil), ks.list...) }
