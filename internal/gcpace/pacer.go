package gcpace

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// DefaultMinHeap is the live heap below which collections are left to the
// runtime: marking a heap this small takes a few milliseconds, which no
// change notices.
const DefaultMinHeap = 64 << 20

// Options configure a Pacer.
type Options struct {
	// MinHeap is the live heap (as of the last collection) below which the
	// Pacer does nothing; DefaultMinHeap when zero.
	MinHeap uint64
	// Log receives a debug line per collection started; logr.Discard()
	// when unset.
	Log logr.Logger
}

// Pacer starts collections while a source debounces. Its methods are safe
// for concurrent use; the zero value is not usable, call New.
type Pacer struct {
	opts Options

	mu         sync.Mutex
	samples    []metrics.Sample
	lastAllocs uint64    // cumulative allocation at the last burst's start
	cycles     [2]uint64 // what the last two change cycles allocated

	running     atomic.Bool // a collection started here has not finished
	collections atomic.Uint64
}

// The runtime/metrics samples BurstStarted reads, in this order.
const (
	sampleAllocs  = iota // cumulative bytes allocated
	sampleGoal           // the heap size the current cycle aims at
	sampleLive           // what the last collection marked live
	sampleObjects        // what the heap's objects occupy now, garbage included
	samples
)

// New returns a Pacer.
func New(opts Options) *Pacer {
	if opts.MinHeap == 0 {
		opts.MinHeap = DefaultMinHeap
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	s := make([]metrics.Sample, samples)
	s[sampleAllocs].Name = "/gc/heap/allocs:bytes"
	s[sampleGoal].Name = "/gc/heap/goal:bytes"
	s[sampleLive].Name = "/gc/heap/live:bytes"
	s[sampleObjects].Name = "/memory/classes/heap/objects:bytes"
	return &Pacer{opts: opts, samples: s}
}

// BurstStarted is called when a change starts a debounce period, before
// the wait. It returns at once; the collection, if any, runs on its own
// goroutine, and a second one is not started while the first runs.
//
// One change cycle is what the process allocated from one burst's start
// to the next: the rebuild, the pushes, status writes and the informers'
// events. The larger of the last two is the estimate for the coming one
// (a small change after a big one should not make the Pacer forget the
// big one at once). A cycle that allocated more than the whole runway from the live
// heap to the goal (the first full build, a relist) is not counted: it
// ran collections of its own, and says nothing of the next edit.
func (p *Pacer) BurstStarted() {
	p.mu.Lock()
	metrics.Read(p.samples)
	h := heap{
		goal:    p.samples[sampleGoal].Value.Uint64(),
		live:    p.samples[sampleLive].Value.Uint64(),
		objects: p.samples[sampleObjects].Value.Uint64(),
	}
	allocs := p.samples[sampleAllocs].Value.Uint64()
	if cycle := allocs - p.lastAllocs; p.lastAllocs != 0 && h.goal > h.live && cycle <= h.goal-h.live {
		p.cycles[1], p.cycles[0] = p.cycles[0], cycle
	}
	p.lastAllocs = allocs
	h.cycle = max(p.cycles[0], p.cycles[1])
	p.mu.Unlock()
	if !h.shouldCollect(p.opts.MinHeap) || !p.running.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.running.Store(false)
		start := time.Now()
		runtime.GC()
		p.collections.Add(1)
		p.opts.Log.V(1).Info("collected garbage while debouncing", "liveMiB", h.live>>20, "heapMiB", h.objects>>20,
			"goalMiB", h.goal>>20, "cycleMiB", h.cycle>>20, "duration", time.Since(start))
	}()
}

// Collections returns how many collections the Pacer started and saw
// finish: what a test waits on to know a started collection is over.
func (p *Pacer) Collections() uint64 { return p.collections.Load() }

// heap is what BurstStarted decides from, in bytes.
type heap struct {
	goal, live, objects uint64
	cycle               uint64 // the estimate of the coming cycle's allocation
}

// shouldCollect reports whether the coming cycle could cross the
// runtime's trigger. The runtime puts the trigger at least 70% of the way
// from the live heap to the goal (minTriggerRatioNum/triggerRatioDen in
// runtime/mgcpacer.go, heapGoalInternal and trigger), and a heap this big
// whose marking is slow next to its allocation gets that lower bound: the
// bound is the trigger to beat. The runtime counts a little more than the
// objects (whole spans cached for allocation, mcache.go), and a cycle may
// allocate more than the last ones, so the estimate is doubled: a
// collection a cycle early costs less than one beside a rebuild. A heap
// already past the bound is being collected by the runtime (or is about
// to be): nothing is added. With GOGC=off and no memory limit the goal is
// out of reach and nothing is collected.
func (h heap) shouldCollect(minHeap uint64) bool {
	if h.live < minHeap || h.goal <= h.live || h.cycle == 0 {
		return false
	}
	trigger := h.live + (h.goal-h.live)/10*7
	return h.objects < trigger && h.objects+2*h.cycle >= trigger
}
