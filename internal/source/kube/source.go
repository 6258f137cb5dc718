package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// DefaultDebounce is the quiet period after a change before a snapshot is
// built, the same as the file source's so `--debounce` means one thing.
const DefaultDebounce = 100 * time.Millisecond

// DefaultRecheckInterval is how often kinds whose CRD is not installed are
// looked for again.
const DefaultRecheckInterval = 30 * time.Second

// Options configure a Source.
type Options struct {
	// Cache is the informer cache to watch, built with CacheOptions and
	// started by the caller (the source never starts or stops it). Required.
	Cache cache.Cache
	// Client is used for access reviews (SelfSubjectAccessReview). Required.
	Client client.Client
	// Mapper tells which kinds the API server serves. Required.
	Mapper meta.RESTMapper
	// Model carries the mesh settings snapshots are built with.
	Model model.Options
	// Debounce is the quiet period after a change before a snapshot is
	// built; DefaultDebounce when zero. A steady stream of changes still
	// produces a snapshot at least every 10 periods (and at least once a
	// second).
	Debounce time.Duration
	// BurstStarted, when not nil, is called on the source's goroutine when
	// a change starts a debounce period, before the wait: where the serve
	// command's collection pacer (internal/gcpace) collects.
	BurstStarted func()
	// RecheckInterval is how often absent kinds are looked for again;
	// DefaultRecheckInterval when zero.
	RecheckInterval time.Duration
	// Log receives structured logs; logr.Discard() when unset.
	Log logr.Logger
}

// Source is the source.Source of Kubernetes mode. Create it with New.
type Source struct {
	opts    Options
	scheme  *runtime.Scheme
	kindIdx *model.KindIndex // what the model reads
	synced  atomic.Bool

	mu      sync.Mutex
	active  []kind                   // watched kinds, in candidate order
	absent  map[string]bool          // by GVK string: not installed, looked for again later
	denied  map[string]bool          // optional kinds RBAC does not grant
	pending map[string]pendingObject // by object key: changed since the last snapshot
	relist  bool                     // a kind became active: the next snapshot lists every kind
	// registrations are the event handlers of the kinds watched from the
	// start: the first snapshot waits until each has been handed its
	// informer's initial list.
	registrations []toolscache.ResourceEventHandlerRegistration
	dirty         chan struct{}                  // capacity 1: a change is waiting to be built
	current       atomic.Pointer[model.Snapshot] // the last snapshot built

	// revisions holds the revisions of the objects the informers
	// delivered while syncing (hashed on their goroutines), for the first
	// snapshot, which lists every kind; it is emptied after each listing.
	revisions *model.RevisionMemo
	// addErrors are the findings about objects the model left out
	// (model.AddError), by object key, kept across snapshots derived by
	// an Edit, which sees only the changed objects.
	addErrors map[string][]model.Diagnostic
}

// pendingObject is the latest version of a changed object the informers
// delivered: nil once deleted.
type pendingObject struct {
	ref model.ObjectRef
	obj client.Object
}

var _ source.Source = (*Source)(nil)

// New checks opts and returns a Source; nothing is watched until Run.
func New(opts Options) (*Source, error) {
	if opts.Cache == nil || opts.Client == nil || opts.Mapper == nil {
		return nil, errors.New("kube source: a cache, a client and a REST mapper are required")
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.RecheckInterval <= 0 {
		opts.RecheckInterval = DefaultRecheckInterval
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	return &Source{opts: opts, scheme: opts.Client.Scheme(), kindIdx: model.NewKindIndex(opts.Model.Kinds), absent: map[string]bool{}, denied: map[string]bool{},
		pending: map[string]pendingObject{}, dirty: make(chan struct{}, 1), revisions: model.NewRevisionMemo(), addErrors: map[string][]model.Diagnostic{}}, nil
}

// HasSynced reports whether every watched kind has been listed and the
// first snapshot built: what /ready waits for in Kubernetes mode.
func (s *Source) HasSynced() bool { return s.synced.Load() }

// Run implements source.Source. It starts watching every kind the model
// reads, waits for the cache to sync, sends the first snapshot, and then
// one per debounced burst of changes that altered any object the model
// reads. It returns nil when ctx ends, and an error when a required kind
// cannot be read.
func (s *Source) Run(ctx context.Context, updates chan<- source.Update) error {
	for _, gvk := range s.modelKinds() {
		if err := s.watch(ctx, gvk, false); err != nil {
			return err
		}
	}
	if err := s.waitSynced(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	first, err := s.build(ctx)
	if err != nil {
		return err
	}
	s.synced.Store(true)
	s.opts.Log.Info("watching the API server", "kinds", s.kindNames(), "objects", first.Snapshot.Len(), "debounce", s.opts.Debounce.String())
	return s.loop(ctx, updates, first)
}

// loop debounces changes into updates; see WatcherOptions.Debounce of the
// file source for the same rules.
func (s *Source) loop(ctx context.Context, updates chan<- source.Update, first source.Update) error {
	pending, out := first, updates // out is nil while nothing waits to be sent
	debounce := source.NewDebouncer(s.opts.Debounce, s.opts.BurstStarted)
	defer debounce.Stop()
	recheck := time.NewTicker(s.opts.RecheckInterval)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case out <- pending:
			out, pending = nil, source.Update{}
		case <-s.dirty:
			debounce.Changed()
		case <-recheck.C:
			s.recheckAbsent(ctx)
		case <-debounce.C():
			debounce.Fired()
			u, err := s.build(ctx)
			if err != nil {
				s.opts.Log.Error(err, "cannot build a snapshot from the cache; still serving the last good config")
				continue
			}
			if u.Snapshot == nil {
				continue // nothing the model reads changed
			}
			pending, out = u, updates
		}
	}
}

// build makes the next snapshot: from the last one and the objects the
// informers delivered since (an Edit, which re-indexes only those), or,
// for the first snapshot and after a kind became active, by listing every
// watched kind from the cache. It returns an Update without a snapshot
// when nothing the model reads changed.
func (s *Source) build(ctx context.Context) (source.Update, error) {
	start := time.Now()
	s.mu.Lock()
	changed, relist := s.pending, s.relist
	s.pending, s.relist = map[string]pendingObject{}, false
	s.mu.Unlock()
	prev := s.current.Load()
	if prev == nil {
		// The first snapshot: every object the handlers were handed while
		// the informers synced (waitSynced waits for them), the cache's own
		// objects, hashed as they arrived (RevisionMemo.Prime).
		snap := s.fromChanges(changed)
		s.current.Store(snap)
		s.opts.Log.V(1).Info("built snapshot from the API server", "objects", snap.Len(), "duration", time.Since(start))
		return source.Update{Snapshot: snap, Diagnostics: s.diagnostics()}, nil
	}
	if relist {
		snap, err := s.list(ctx)
		if err != nil {
			s.requeue(changed, true)
			return source.Update{}, err
		}
		s.current.Store(snap)
		if prev != nil && sameObjects(prev, snap) {
			return source.Update{}, nil
		}
		s.opts.Log.V(1).Info("built snapshot from the API server", "objects", snap.Len(), "duration", time.Since(start))
		return source.Update{Snapshot: snap, Diagnostics: s.diagnostics()}, nil
	}
	e := prev.Edit()
	for key, p := range changed {
		delete(s.addErrors, key)
		if p.obj == nil {
			e.Delete(p.ref)
			continue
		}
		if err := e.Put(s.withKind(p), model.Origin{}); err != nil {
			s.addErrors[key] = model.AddError(err, model.Origin{})
		}
	}
	snap := e.Build()
	if snap == prev {
		s.opts.Log.V(2).Info("change does not touch anything the model reads; no new snapshot")
		return source.Update{}, nil
	}
	s.current.Store(snap)
	s.opts.Log.V(1).Info("built snapshot from the API server", "changed", len(changed), "objects", snap.Len(), "duration", time.Since(start))
	return source.Update{Snapshot: snap, Diagnostics: s.diagnostics()}, nil
}

// withKind is a delivered object with its group, version and kind: the
// cache's transform sets them; an object that somehow lacks them gets them
// here, on a copy.
func (s *Source) withKind(p pendingObject) runtime.Object {
	var obj runtime.Object = p.obj
	if obj.GetObjectKind().GroupVersionKind().Kind == "" {
		obj = obj.DeepCopyObject()
		obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: p.ref.Group, Version: s.versionOf(p.ref), Kind: p.ref.Kind})
	}
	return obj
}

// fromChanges builds a snapshot from the objects the handlers delivered.
func (s *Source) fromChanges(changed map[string]pendingObject) *model.Snapshot {
	b := model.NewBuilder(s.opts.Model)
	b.UseRevisionMemo(s.revisions)
	errs := map[string][]model.Diagnostic{}
	for key, p := range changed {
		if p.obj == nil {
			continue
		}
		if err := b.Add(s.withKind(p), model.Origin{}); err != nil {
			errs[key] = model.AddError(err, model.Origin{})
		}
	}
	s.addErrors = errs
	snap := b.Build()
	s.revisions.Reset()
	return snap
}

// list builds a snapshot from every watched kind in the cache.
func (s *Source) list(ctx context.Context) (*model.Snapshot, error) {
	b := model.NewBuilder(s.opts.Model)
	b.UseRevisionMemo(s.revisions)
	errs := map[string][]model.Diagnostic{}
	for _, k := range s.kinds() {
		list, err := k.newList()
		if err != nil {
			return nil, err
		}
		// No deep copies: cached objects are replaced, never modified,
		// and the model treats what it is given as read-only.
		if err := s.opts.Cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("kube source: listing %s from the cache: %w", k, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, fmt.Errorf("kube source: reading the %s list: %w", k, err)
		}
		for _, obj := range items {
			if obj.GetObjectKind().GroupVersionKind().Kind == "" {
				// The cache's transform sets it; a list item that
				// somehow lacks it gets it here, on a copy.
				obj = obj.DeepCopyObject()
				obj.GetObjectKind().SetGroupVersionKind(k.gvk)
			}
			if err := b.Add(obj, model.Origin{}); err != nil {
				if m, ok := obj.(client.Object); ok {
					ref := model.ObjectRef{Group: k.gvk.Group, Kind: k.gvk.Kind, Namespace: m.GetNamespace(), Name: m.GetName()}
					errs[ref.Key()] = model.AddError(err, model.Origin{})
				}
			}
		}
	}
	s.addErrors = errs
	// Derived from the last snapshot by the differences (the objects of
	// the kind that became active, changes since): the translator's Diff
	// then works from them rather than from every key of the mesh.
	snap := b.BuildFrom(s.current.Load())
	// Later snapshots are Edits of this one; a relist (rare) hashes again.
	s.revisions.Reset()
	return snap, nil
}

// sameObjects reports whether two snapshots hold the same objects at the
// same revisions.
func sameObjects(a, b *model.Snapshot) bool {
	x, y := a.Objects(), b.Objects()
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i].Ref != y[i].Ref || x[i].Revision != y[i].Revision {
			return false
		}
	}
	return true
}

// requeue puts changes taken for a build that failed back, unless newer
// ones arrived meanwhile.
func (s *Source) requeue(changed map[string]pendingObject, relist bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range changed {
		if _, ok := s.pending[k]; !ok {
			s.pending[k] = p
		}
	}
	s.relist = s.relist || relist
}

// diagnostics lists the findings about objects left out, in key order.
func (s *Source) diagnostics() []model.Diagnostic {
	var out []model.Diagnostic
	for _, k := range slices.Sorted(maps.Keys(s.addErrors)) {
		out = append(out, s.addErrors[k]...)
	}
	return out
}

// versionOf is the version a kind is watched at.
func (s *Source) versionOf(ref model.ObjectRef) string {
	if k, ok := s.kindIdx.Lookup(ref.Group, ref.Kind); ok {
		return k.GVK.Version
	}
	return ""
}

// kinds returns the watched kinds.
func (s *Source) kinds() []kind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]kind(nil), s.active...)
}

func (s *Source) kindNames() string {
	var names []string
	for _, k := range s.kinds() {
		names = append(names, k.String())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// markDirty records that something changed; the loop builds after the
// debounce.
func (s *Source) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// changed records the latest version of an object (nil: deleted) for the
// next snapshot, and marks the source dirty.
func (s *Source) changed(ref model.ObjectRef, obj client.Object) {
	s.mu.Lock()
	s.pending[ref.Key()] = pendingObject{ref: ref, obj: obj}
	s.mu.Unlock()
	s.markDirty()
}

// relistAll makes the next snapshot list every kind (a kind became
// active: its objects were never delivered as changes).
func (s *Source) relistAll() {
	s.mu.Lock()
	s.relist = true
	s.mu.Unlock()
	s.markDirty()
}

// waitSynced waits for every informer to list its kind, logging the ones
// still syncing now and then so a stuck informer is visible.
func (s *Source) waitSynced(ctx context.Context) error {
	done := make(chan bool, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if !s.opts.Cache.WaitForCacheSync(wctx) {
			done <- false
			return
		}
		// The informers have listed; their handlers may still be
		// delivering the initial objects. The first snapshot is built
		// from what they delivered.
		s.mu.Lock()
		var handed []toolscache.InformerSynced
		for _, r := range s.registrations {
			handed = append(handed, r.HasSynced)
		}
		s.mu.Unlock()
		done <- toolscache.WaitForCacheSync(wctx.Done(), handed...)
	}()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case ok := <-done:
			if !ok {
				return errors.New("kube source: the informer cache stopped before it synced")
			}
			return nil
		case <-tick.C:
			s.opts.Log.Info("still waiting for the API server caches to sync; check aeraki's RBAC and the API server", "kinds", s.kindNames())
		}
	}
}

// handler turns one kind's informer events into changes for the next
// snapshot. Resyncs (same resourceVersion) are ignored: nothing changed.
// So are updates that do not change what the model reads
// (KindIndex.ObjectRevision), above all aeraki's own status writes: each
// is a watch event, and while status was being written for a large mesh
// they kept restarting the debounce, so that every edit waited the
// debouncer's maximum wait (a second) instead of its quiet period.
//
// Events of a kind not active yet (one installed after start, whose
// informer is still syncing) are dropped: when it becomes active the
// next snapshot lists every kind, so no snapshot holds part of a kind.
func (s *Source) handler(gvk schema.GroupVersionKind, active *atomic.Bool) eventHandler {
	return eventHandler{s: s, gvk: gvk, active: active}
}

type eventHandler struct {
	s      *Source
	gvk    schema.GroupVersionKind
	active *atomic.Bool
}

func (h eventHandler) ref(o client.Object) model.ObjectRef {
	return model.ObjectRef{Group: h.gvk.Group, Kind: h.gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

func (h eventHandler) OnAdd(obj any, _ bool) {
	if !h.active.Load() {
		return
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	if !h.s.synced.Load() && h.s.revisions != nil {
		// Still syncing: the first snapshot will list this object. Hash
		// it now, on the informer's goroutine, so that build finds its
		// revision in the memo instead of hashing the whole mesh after
		// the sync.
		h.s.revisions.Prime(h.s.kindIdx, o)
	}
	h.s.changed(h.ref(o), o)
}

func (h eventHandler) OnUpdate(oldObj, newObj any) {
	n, ok := newObj.(client.Object)
	if !ok || !h.active.Load() {
		return
	}
	if o, ok := oldObj.(client.Object); ok {
		if o.GetResourceVersion() == n.GetResourceVersion() {
			return
		}
		if h.s.same(h.ref(n), o, n) {
			return
		}
	}
	h.s.changed(h.ref(n), n)
}

func (h eventHandler) OnDelete(obj any) {
	if !h.active.Load() {
		return
	}
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		ns, name, err := toolscache.SplitMetaNamespaceKey(t.Key)
		if err != nil {
			return
		}
		h.s.changed(model.ObjectRef{Group: h.gvk.Group, Kind: h.gvk.Kind, Namespace: ns, Name: name}, nil)
		return
	}
	if o, ok := obj.(client.Object); ok {
		h.s.changed(h.ref(o), nil)
	}
}

// same reports whether two versions of an object give the model the same
// thing. The old version's revision is the snapshot's when it is the
// object the last snapshot holds (the usual case: one hash per update,
// not two). Cached objects may lack their kind (the cache's transform
// sets it, but the event can come first): then they are not compared.
func (s *Source) same(ref model.ObjectRef, o, n client.Object) bool {
	if o.GetObjectKind().GroupVersionKind().Kind == "" || n.GetObjectKind().GroupVersionKind().Kind == "" {
		return false
	}
	var ro model.Revision
	if cur := s.current.Load(); cur != nil {
		if info, ok := cur.Object(ref); ok && info.Object == runtime.Object(o) {
			ro = info.Revision
		}
	}
	if ro == "" {
		r, err := s.kindIdx.ObjectRevision(o)
		if err != nil {
			return false
		}
		ro = r
	}
	rn, err := s.kindIdx.ObjectRevision(n)
	return err == nil && ro == rn
}
