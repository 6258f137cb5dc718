package model

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RevisionMemo remembers the revisions of objects across builds, by object
// identity. A source that hands its Builders the same objects again (the
// file watcher for files that did not change, the Kubernetes cache for
// objects that were not replaced) gives each Builder the same memo, and
// an unchanged object is not hashed again: hashing every object was most
// of a rebuild's cost on a large mesh.
//
// It relies on the Builder's ownership rule: an object given to Add is
// never modified afterwards, so its identity stands for its content. Only
// the objects of the latest build are remembered. A memo is safe for
// concurrent use, though builds sharing one normally run one at a time.
type RevisionMemo struct {
	mu   sync.Mutex
	prev map[runtime.Object]Revision // the last completed build's objects
	cur  map[runtime.Object]Revision // the build in progress
}

// NewRevisionMemo returns an empty memo.
func NewRevisionMemo() *RevisionMemo {
	return &RevisionMemo{prev: map[runtime.Object]Revision{}, cur: map[runtime.Object]Revision{}}
}

// revision returns obj's revision, computing it only for objects the
// memo has not seen in the last or current build.
func (m *RevisionMemo) revision(obj runtime.Object, compute func() Revision) Revision {
	m.mu.Lock()
	r, ok := m.cur[obj]
	if !ok {
		r, ok = m.prev[obj]
	}
	m.mu.Unlock()
	if !ok {
		r = compute()
	}
	m.mu.Lock()
	m.cur[obj] = r
	m.mu.Unlock()
	return r
}

// rotate ends a build: its objects become the ones remembered, and
// objects no longer used are forgotten.
func (m *RevisionMemo) rotate() {
	m.mu.Lock()
	m.prev, m.cur = m.cur, make(map[runtime.Object]Revision, len(m.cur))
	m.mu.Unlock()
}

// Prime computes obj's revision for the next build ahead of it, as a
// Builder with these kinds would: a source calls it as objects arrive
// (the Kubernetes source while its informers sync), so the hashing
// overlaps the wait instead of following it. An object the next build is
// not given is forgotten after it.
func (m *RevisionMemo) Prime(ks *KindIndex, obj runtime.Object) {
	meta, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	m.mu.Lock()
	_, ok = m.cur[obj]
	if !ok {
		_, ok = m.prev[obj]
	}
	m.mu.Unlock()
	if ok {
		return
	}
	r, err := revisionOfObject(obj, meta, ks)
	if err != nil || r == "" {
		return // the build finds out, and says why
	}
	m.mu.Lock()
	m.cur[obj] = r
	m.mu.Unlock()
}

// Reset forgets every revision: for a source whose later snapshots are
// not built by listing everything again (the Kubernetes source edits its
// last snapshot), so the memo does not keep the objects of the first
// build alive after they were replaced.
func (m *RevisionMemo) Reset() {
	m.mu.Lock()
	m.prev, m.cur = map[runtime.Object]Revision{}, map[runtime.Object]Revision{}
	m.mu.Unlock()
}
