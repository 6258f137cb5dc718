package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
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

	mu     sync.Mutex
	active []kind          // watched kinds, in candidate order
	absent map[string]bool // by GVK string: not installed, looked for again later
	denied map[string]bool // optional kinds RBAC does not grant
	dirty  chan struct{}   // capacity 1: a change is waiting to be built

	// revisions spares re-hashing the objects the cache did not replace
	// since the previous build.
	revisions *model.RevisionMemo
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
	return &Source{opts: opts, scheme: opts.Client.Scheme(), kindIdx: model.NewKindIndex(opts.Model.Kinds), absent: map[string]bool{}, denied: map[string]bool{}, dirty: make(chan struct{}, 1)}, nil
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
	first, _, err := s.build(ctx, nil)
	if err != nil {
		return err
	}
	s.synced.Store(true)
	s.opts.Log.Info("watching the API server", "kinds", s.kindNames(), "objects", len(first.Snapshot.Objects()), "debounce", s.opts.Debounce.String())
	return s.loop(ctx, updates, first)
}

// loop debounces changes into updates; see WatcherOptions.Debounce of the
// file source for the same rules.
func (s *Source) loop(ctx context.Context, updates chan<- source.Update, first source.Update) error {
	pending, out := first, updates // out is nil while nothing waits to be sent
	last := revisions(first.Snapshot)
	debounce := source.NewDebouncer(s.opts.Debounce)
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
			u, revs, err := s.build(ctx, last)
			if err != nil {
				s.opts.Log.Error(err, "cannot build a snapshot from the cache; still serving the last good config")
				continue
			}
			if u.Snapshot == nil {
				continue // nothing the model reads changed
			}
			last = revs
			pending, out = u, updates
		}
	}
}

// build lists every watched kind from the cache into a new snapshot. When
// prev is given and no object's revision differs from it, it returns an
// Update without a snapshot.
func (s *Source) build(ctx context.Context, prev map[string]model.Revision) (source.Update, map[string]model.Revision, error) {
	start := time.Now()
	b := model.NewBuilder(s.opts.Model)
	b.UseRevisionMemo(s.revisions)
	var diags []model.Diagnostic
	for _, k := range s.kinds() {
		list, err := k.newList()
		if err != nil {
			return source.Update{}, nil, err
		}
		// No deep copies: cached objects are replaced, never modified,
		// and the model treats what it is given as read-only.
		if err := s.opts.Cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return source.Update{}, nil, fmt.Errorf("kube source: listing %s from the cache: %w", k, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return source.Update{}, nil, fmt.Errorf("kube source: reading the %s list: %w", k, err)
		}
		for _, obj := range items {
			if obj.GetObjectKind().GroupVersionKind().Kind == "" {
				// The cache's transform sets it; a list item that
				// somehow lacks it gets it here, on a copy.
				obj = obj.DeepCopyObject()
				obj.GetObjectKind().SetGroupVersionKind(k.gvk)
			}
			if err := b.Add(obj, model.Origin{}); err != nil {
				diags = append(diags, model.AddError(err, model.Origin{})...)
			}
		}
	}
	snap := b.Build()
	revs := revisions(snap)
	if prev != nil && sameRevisions(prev, revs) {
		s.opts.Log.V(2).Info("change does not touch anything the model reads; no new snapshot")
		return source.Update{}, prev, nil
	}
	s.opts.Log.V(1).Info("built snapshot from the API server", "objects", len(revs), "duration", time.Since(start))
	return source.Update{Snapshot: snap, Diagnostics: append(diags, b.Diagnostics()...)}, revs, nil
}

func revisions(snap *model.Snapshot) map[string]model.Revision {
	objs := snap.Objects()
	out := make(map[string]model.Revision, len(objs))
	for _, o := range objs {
		out[o.Ref.Key()] = o.Revision
	}
	return out
}

func sameRevisions(a, b map[string]model.Revision) bool {
	if len(a) != len(b) {
		return false
	}
	for k, r := range a {
		if b[k] != r {
			return false
		}
	}
	return true
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

// waitSynced waits for every informer to list its kind, logging the ones
// still syncing now and then so a stuck informer is visible.
func (s *Source) waitSynced(ctx context.Context) error {
	done := make(chan bool, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- s.opts.Cache.WaitForCacheSync(wctx) }()
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

// handler turns informer events into dirty marks. Resyncs (same
// resourceVersion) are ignored: nothing changed. So are updates that do
// not change what the model reads (KindIndex.ObjectRevision), above all
// aeraki's own status writes: each is a watch event, and while status was
// being written for a large mesh they kept restarting the debounce, so
// that every edit waited the debouncer's maximum wait (a second) instead
// of its quiet period.
func (s *Source) handler() eventHandler { return eventHandler{s: s} }

type eventHandler struct{ s *Source }

func (h eventHandler) OnAdd(any, bool) { h.s.markDirty() }
func (h eventHandler) OnUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(client.Object)
	n, ok2 := newObj.(client.Object)
	if ok1 && ok2 {
		if o.GetResourceVersion() == n.GetResourceVersion() {
			return
		}
		if h.s.same(o, n) {
			return
		}
	}
	h.s.markDirty()
}

// same reports whether two versions of an object give the model the same
// thing. Cached objects may lack their kind (the cache's transform sets
// it, but the event can come first): then they are not compared.
func (s *Source) same(o, n client.Object) bool {
	if o.GetObjectKind().GroupVersionKind().Kind == "" || n.GetObjectKind().GroupVersionKind().Kind == "" {
		return false
	}
	ro, err1 := s.kindIdx.ObjectRevision(o)
	rn, err2 := s.kindIdx.ObjectRevision(n)
	return err1 == nil && err2 == nil && ro == rn
}
func (h eventHandler) OnDelete(any) { h.s.markDirty() }
