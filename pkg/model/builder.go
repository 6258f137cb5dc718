package model

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// Options are the mesh-wide settings a Snapshot is built with.
type Options struct {
	// DomainSuffix completes short host names: "name.ns.svc.<DomainSuffix>". Default cluster.local.
	DomainSuffix string
	// RootNamespace is Istio's config root namespace, where mesh-wide
	// EnvoyFilters live. Default istio-system.
	RootNamespace string
	// TrustDomain is the SPIFFE trust domain of workload identities. Default cluster.local.
	TrustDomain string
	// RegexMaxProgramSize is the largest RE2 program the proxies accept
	// (Envoy's runtime key re2.max_program_size.error_level); every regex
	// aeraki emits is checked against it. Default re2.IstioMaxProgramSize,
	// what Istio's bootstrap sets for istio-proxy.
	RegexMaxProgramSize int
	// WaypointClass is the GatewayClass of the waypoints aeraki serves
	// itself. Default DefaultWaypointClass. Gateways of class
	// istio-waypoint are waypoints too, served by istiod.
	WaypointClass string
	// Protocols decides which protocol a port's appProtocol and name
	// mean (DetectProtocolWith): the plugin registry. Nil: the first name
	// either spells.
	Protocols ProtocolClaims
	// Kinds are the kinds the plugins bring (plugin.Registry.Kinds), read
	// besides CoreKinds. A kind with the group and kind of a core kind is
	// ignored.
	Kinds []Kind
}

func (o Options) withDefaults() Options {
	if o.DomainSuffix == "" {
		o.DomainSuffix = "cluster.local"
	}
	if o.RootNamespace == "" {
		o.RootNamespace = "istio-system"
	}
	if o.TrustDomain == "" {
		o.TrustDomain = "cluster.local"
	}
	if o.WaypointClass == "" {
		o.WaypointClass = DefaultWaypointClass
	}
	if o.RegexMaxProgramSize <= 0 {
		o.RegexMaxProgramSize = re2.IstioMaxProgramSize
	}
	return o
}

// Builder collects objects from a source and freezes them into a Snapshot.
// It is not safe for concurrent use; a source fills one Builder per
// snapshot.
type Builder struct {
	opts    Options
	kinds   *KindIndex
	objects map[string]*entry
	diags   []Diagnostic
	memo    *RevisionMemo
}

type entry struct {
	ref    ObjectRef
	key    string // ref.Key()
	origin Origin
	obj    runtime.Object
	rev    Revision
}

// NewBuilder returns an empty Builder for a mesh with the given options.
func NewBuilder(opts Options) *Builder {
	return &Builder{opts: opts.withDefaults(), kinds: NewKindIndex(opts.Kinds), objects: map[string]*entry{}}
}

// UseRevisionMemo makes the Builder take the revisions of objects it was
// given in the previous build from memo instead of hashing them again.
func (b *Builder) UseRevisionMemo(memo *RevisionMemo) { b.memo = memo }

// Kinds returns the kinds the snapshot reads; sources decode and watch
// those and skip everything else.
func (b *Builder) Kinds() *KindIndex { return b.kinds }

// Add puts obj into the snapshot under construction. The Builder takes
// ownership: callers must not modify obj afterwards. Adding an object with
// the same kind, namespace and name as an earlier one replaces it, as a
// later `kubectl apply` would, and records a warning naming both origins.
// An object with numbers out of the range the data plane takes (ports
// outside 1..65535) is not added: the error is FieldErrors.
func (b *Builder) Add(obj runtime.Object, origin Origin) error {
	e, err := b.newEntry(obj, origin)
	if err != nil {
		return err
	}
	if old, ok := b.objects[e.key]; ok {
		msg := fmt.Sprintf("defined again; this definition replaces the one in %s", old.origin)
		if old.origin.File == "" {
			msg = "defined again; this definition replaces the earlier one"
		}
		b.diags = append(b.diags, Diagnostic{Severity: SeverityWarning, Object: e.ref, Origin: origin, Reason: "Duplicate", Message: msg})
	}
	b.objects[e.key] = e
	return nil
}

// newEntry checks obj and computes its revision (from the memo when it
// has it).
func (b *Builder) newEntry(obj runtime.Object, origin Origin) (*entry, error) {
	ref, meta, err := b.kinds.refOf(obj)
	if err != nil {
		return nil, err
	}
	if errs := checkBounds(ref, obj); len(errs) > 0 {
		return nil, errs
	}
	var rev Revision
	var hashErr error
	compute := func() Revision {
		r, err := revisionOfObject(obj, meta, b.kinds)
		hashErr = err
		return r
	}
	if b.memo != nil {
		rev = b.memo.revision(obj, compute)
	} else {
		rev = compute()
	}
	if rev == "" {
		// No content hash means no way to tell a change from none: a
		// fallback (such as printing the object) would include pointers
		// and differ on every build, or hide a change.
		return nil, fmt.Errorf("model: %s cannot be encoded to compute its revision (%v); it is left out: check the object's fields", ref, hashErr)
	}
	return &entry{ref: ref, key: ref.Key(), origin: origin, obj: obj, rev: rev}, nil
}

// Delete removes an object added earlier; it is a no-op when there is none.
func (b *Builder) Delete(ref ObjectRef) { delete(b.objects, ref.Key()) }

// Diagnostics returns what the Builder noticed while objects were added.
func (b *Builder) Diagnostics() []Diagnostic { return append([]Diagnostic(nil), b.diags...) }

// refOf names an object of a kind the set holds.
func (ks *KindIndex) refOf(obj runtime.Object) (ObjectRef, metav1.Object, error) {
	meta, ok := obj.(metav1.Object)
	if !ok {
		return ObjectRef{}, nil, fmt.Errorf("model: %T has no object metadata", obj)
	}
	k, ok := ks.ofObject(obj)
	if !ok {
		if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind != "" {
			return ObjectRef{}, nil, fmt.Errorf("model: %s is not a kind the model reads (no plugin of this build brings it)", gvk.GroupKind())
		}
		return ObjectRef{}, nil, fmt.Errorf("model: %T is not a kind the model reads (no plugin of this build brings it)", obj)
	}
	return ObjectRef{Group: k.GVK.Group, Kind: k.GVK.Kind, Namespace: meta.GetNamespace(), Name: meta.GetName()}, meta, nil
}

// ObjectRevision is the revision a Builder with these kinds gives obj: what the model reads of
// it (everything but status and the bookkeeping metadata the API server
// changes on every write, with the status fields the model does read).
// Two versions of an object with the same revision make the same
// snapshot, so a source can ignore an update that does not change it
// (aeraki's own status writes, for one).
func (ks *KindIndex) ObjectRevision(obj runtime.Object) (Revision, error) {
	meta, ok := obj.(metav1.Object)
	if !ok {
		return "", fmt.Errorf("model: %T has no object metadata", obj)
	}
	return revisionOfObject(obj, meta, ks)
}

// revisionOfObject hashes what matters of an object: everything but status
// and the bookkeeping metadata the API server changes on every write.
// An object that does not encode to JSON has no revision ("", and the
// error).
func revisionOfObject(obj runtime.Object, meta metav1.Object, ks *KindIndex) (Revision, error) {
	k, _ := ks.ofObject(obj)
	if r, ok, err := fastRevision(obj, k.ReadStatus); ok {
		return r, err
	}
	return threePassRevision(obj, k.ReadStatus)
}

// threePassRevision is revisionOfObject for an object of any shape: it
// encodes the object, decodes it into maps, drops what the model does
// not read and encodes the rest.
func threePassRevision(obj runtime.Object, readStatus []string) (Revision, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return RevisionOf(string(raw)), nil // the bytes themselves: deterministic
	}
	keepReadStatus(readStatus, m)
	delete(m, "apiVersion")
	if md, ok := m["metadata"].(map[string]any); ok {
		for _, k := range []string{"resourceVersion", "managedFields", "uid", "generation", "selfLink"} {
			delete(md, k)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, lastAppliedConfig)
			if len(ann) == 0 {
				delete(md, "annotations") // as if it had none
			}
		}
	}
	return RevisionOf(m), nil
}

// lastAppliedConfig is the annotation `kubectl apply` keeps a copy of the
// whole object in: not part of what the model reads.
const lastAppliedConfig = "kubectl.kubernetes.io/last-applied-configuration"

// keepReadStatus trims the "status" of an object's JSON form m to the
// fields the model reads for its kind (Kind.ReadStatus), or removes it.
// The rest of every status is bookkeeping that must not count as a
// change: aeraki's own status writes, Pod conditions. A Pod's IP arrives
// in its status after the Pod was created, so without this a Pod that got
// its IP would look unchanged to the source and the translator.
func keepReadStatus(fields []string, m map[string]any) {
	st, ok := m["status"].(map[string]any)
	delete(m, "status")
	if !ok {
		return
	}
	kept := map[string]any{}
	for _, f := range fields {
		if v, ok := st[f]; ok {
			kept[f] = v
		}
	}
	if len(kept) > 0 {
		m["status"] = kept
	}
}

// Build freezes everything added so far into a Snapshot. The Builder can be
// used again afterwards; the Snapshot does not share its maps.
func (b *Builder) Build() *Snapshot {
	if b.memo != nil {
		b.memo.rotate()
	}
	s := newSnapshot(b.opts, b.kinds)
	entries := make([]*entry, 0, len(b.objects))
	for _, e := range b.objects {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	for _, e := range entries {
		s.objects.base[e.key] = e
	}
	s.index(entries)
	s.derivable = true
	return s
}

// ResolveHost completes a short host name the way Istio does for routing
// objects: a name without a dot is a Kubernetes service in namespace.
func ResolveHost(host, namespace, domainSuffix string) string {
	host = strings.ToLower(strings.TrimSpace(host))
	if host == "" || strings.Contains(host, ".") || host == "*" || namespace == "" {
		return host
	}
	return host + "." + namespace + ".svc." + domainSuffix
}

func targetPortNumber(tp intstr.IntOrString, port int32) uint32 {
	if tp.Type == intstr.Int && tp.IntVal > 0 {
		return uint32(tp.IntVal)
	}
	if tp.Type == intstr.String && tp.StrVal != "" {
		return 0 // named: resolved per workload
	}
	return uint32(port)
}

func isIP(s string) bool { return net.ParseIP(s) != nil }
