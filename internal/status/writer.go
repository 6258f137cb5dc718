package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Options configure a Writer.
type Options struct {
	// Client reads the objects (from the informer cache, which must hold
	// every kind with a status) and writes their status subresource.
	// Required.
	Client client.Client
	// Kinds are the plugins' kinds (model.Options.Kinds); with the core
	// kinds they say how to read and set each object's status
	// (model.Kind.Status).
	Kinds []model.Kind
	// Log receives structured logs; logr.Discard() when unset.
	Log logr.Logger
	// RetryAfter is the wait before a pass that failed (a conflict, an
	// unreachable API server) is retried; one second when zero.
	RetryAfter time.Duration
}

// Writer keeps the status of aeraki's objects up to date. Observe is
// called by every replica after each published generation; Run writes,
// and runs only while the replica leads.
type Writer struct {
	opts  Options
	kinds *model.KindIndex
	wake  chan struct{}

	mu sync.Mutex
	// The latest generation, as Observe received it: its status is
	// computed (Compute) by Run, when the replica leads, and not in
	// Observe, which the server calls right after publishing, while the
	// MCP and xDS answers of that generation are being sent. A follower
	// never computes it, and a burst of generations is computed once.
	snap        *model.Snapshot
	diags       []model.Diagnostic
	out         *translate.Output
	seq         uint64            // bumped by Observe
	desired     map[string]Result // Compute of the inputs above, when computedSeq == seq
	computedSeq uint64
}

// NewWriter returns a Writer; nothing is written until Run.
func NewWriter(opts Options) (*Writer, error) {
	if opts.Client == nil {
		return nil, errors.New("status: a client is required")
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	return &Writer{opts: opts, kinds: model.NewKindIndex(opts.Kinds), wake: make(chan struct{}, 1)}, nil
}

// Observe records a published generation, whose status Run computes and
// writes. It is cheap (it keeps references) and never blocks on the API
// server, so the server can call it inline.
func (w *Writer) Observe(u source.Update, out *translate.Output) {
	if u.Snapshot == nil || out == nil {
		return
	}
	w.mu.Lock()
	w.snap, w.diags, w.out, w.seq = u.Snapshot, u.Diagnostics, out, w.seq+1
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// latest returns the status the latest observed generation implies (nil
// before the first) and its sequence number, computing it once per
// generation.
func (w *Writer) latest() (map[string]Result, uint64) {
	w.mu.Lock()
	snap, diags, out, seq := w.snap, w.diags, w.out, w.seq
	if seq == w.computedSeq || snap == nil {
		desired := w.desired
		w.mu.Unlock()
		return desired, seq
	}
	w.mu.Unlock()
	// Outside the lock: Observe must not wait for it.
	desired := Compute(snap, diags, out)
	w.mu.Lock()
	if w.computedSeq < seq {
		w.desired, w.computedSeq = desired, seq
	}
	w.mu.Unlock()
	return desired, seq
}

// Run writes status until ctx ends: at once for the latest generation,
// then after every Observe. Call it when the replica becomes leader and
// cancel ctx when it stops leading.
func (w *Writer) Run(ctx context.Context) error {
	w.opts.Log.Info("writing status of aeraki's objects")
	// What this leader wrote or found in place, by object, so a pass
	// skips objects whose status it already knows is right.
	confirmed := map[string]Result{}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var done uint64 // seq of the last complete pass
	for {
		desired, seq := w.latest()
		if seq != done && desired != nil {
			if w.pass(ctx, desired, confirmed) {
				done = seq
			} else {
				retry.Reset(w.opts.RetryAfter)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-retry.C:
			done = 0 // retry the pass even without a new generation
		}
	}
}

// sameResult reports whether two desired statuses are the same, to skip
// objects whose status is known to be right. It compares the fields
// rather than printing them: a pass looks at every object with a status
// after every generation.
func sameResult(a, b Result) bool {
	if a.Generation != b.Generation || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i, c := range a.Conditions {
		d := b.Conditions[i]
		if c.Type != d.Type || c.Status != d.Status || c.Reason != d.Reason || c.Message != d.Message || c.ObservedGeneration != d.ObservedGeneration {
			return false
		}
	}
	return true
}

// pass brings every object to its desired status and reports whether it
// fully succeeded.
func (w *Writer) pass(ctx context.Context, desired map[string]Result, confirmed map[string]Result) bool {
	ok := true
	written := 0
	for key, r := range desired {
		if ctx.Err() != nil {
			return false
		}
		if c, ok := confirmed[key]; ok && sameResult(c, r) {
			continue
		}
		wrote, err := w.sync(ctx, r)
		switch {
		case err == nil:
			confirmed[key] = r
			if wrote {
				written++
			}
		case apierrors.IsConflict(err):
			w.opts.Log.V(1).Info("status write conflicted; retrying", "object", r.Ref.String())
			ok = false
		default:
			w.opts.Log.Error(err, "cannot write status; retrying", "object", r.Ref.String())
			ok = false
		}
	}
	for key := range confirmed {
		if _, ok := desired[key]; !ok {
			delete(confirmed, key) // deleted objects
		}
	}
	if written > 0 {
		w.opts.Log.V(1).Info("status written", "objects", written)
	}
	return ok
}

// sync writes one object's status if it differs from r. It reports
// whether it wrote.
func (w *Writer) sync(ctx context.Context, r Result) (bool, error) {
	obj, st, err := w.newObject(r.Ref.Group, r.Ref.Kind)
	if err != nil {
		return false, err
	}
	if err := w.opts.Client.Get(ctx, client.ObjectKey{Namespace: r.Ref.Namespace, Name: r.Ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil // deleted since; nothing to report on
		}
		return false, err
	}
	if obj.GetGeneration() != r.Generation {
		return false, nil // moved on since the snapshot; the next generation covers it
	}
	if equal(st, r) {
		return false, nil
	}
	next := conditions.Status{Conditions: append([]metav1.Condition(nil), st.Conditions...), ObservedGeneration: r.Generation}
	for _, c := range r.Conditions {
		apimeta.SetStatusCondition(&next.Conditions, c)
	}
	// A merge patch with the resourceVersion read: a concurrent writer
	// makes it fail with a conflict instead of being overwritten.
	var patch client.Patch
	if statusAtTop(obj, st) {
		data, err := statusPatch(obj.GetResourceVersion(), next)
		if err != nil {
			return false, err
		}
		patch = client.RawPatch(types.MergePatchType, data)
	} else {
		base := obj.DeepCopyObject().(client.Object)
		patch = client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	}
	*st = next
	if err := w.opts.Client.Status().Patch(ctx, obj, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// statusAtTop reports whether st is obj's "status" field, so that a
// merge patch of {"status": st} sets it (the usual layout: Kind.Status
// returns &o.Status). Then the patch is written directly: diffing the
// object before and after (client.MergeFrom: a copy, two JSON encodings
// and a JSON diff of the whole object) was most of what the pass after a
// cold start allocated, 10,000 objects in a row.
func statusAtTop(obj client.Object, st *conditions.Status) bool {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	f, ok := v.Elem().Type().FieldByName("Status")
	if !ok || len(f.Index) != 1 || f.Type != reflect.TypeFor[conditions.Status]() || strings.Split(f.Tag.Get("json"), ",")[0] != "status" {
		return false
	}
	return v.Elem().Field(f.Index[0]).Addr().Interface().(*conditions.Status) == st
}

// statusPatch is the JSON merge patch that sets an object's status to st
// if its resourceVersion is still rv: what client.MergeFrom with the
// optimistic lock sends when the status is all that changed (a merge
// patch replaces a list whole, so the conditions are all written).
func statusPatch(rv string, st conditions.Status) ([]byte, error) {
	type meta struct {
		ResourceVersion string `json:"resourceVersion"`
	}
	type status struct {
		Conditions         []metav1.Condition `json:"conditions"`
		ObservedGeneration int64              `json:"observedGeneration"`
	}
	return json.Marshal(struct {
		Metadata meta   `json:"metadata"`
		Status   status `json:"status"`
	}{meta{rv}, status{st.Conditions, st.ObservedGeneration}})
}

// equal compares a current status with a desired one, ignoring
// lastTransitionTime (kept by SetStatusCondition unless the status
// flips).
func equal(st *conditions.Status, r Result) bool {
	if st.ObservedGeneration != r.Generation {
		return false
	}
	for _, want := range r.Conditions {
		got := apimeta.FindStatusCondition(st.Conditions, want.Type)
		if got == nil || got.Status != want.Status || got.Reason != want.Reason || got.Message != want.Message || got.ObservedGeneration != want.ObservedGeneration {
			return false
		}
	}
	return true
}

// newObject returns an empty object of a kind with a status, and that
// status.
func (w *Writer) newObject(group, kind string) (client.Object, *conditions.Status, error) {
	k, ok := w.kinds.Lookup(group, kind)
	if !ok || k.Status == nil {
		return nil, nil, fmt.Errorf("status: %s.%s has no status aeraki writes", kind, group)
	}
	o, ok := k.New().(client.Object)
	if !ok {
		return nil, nil, fmt.Errorf("status: %s is not a Kubernetes object", k)
	}
	return o, k.Status(o), nil
}
