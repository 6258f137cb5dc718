package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestShouldCollect(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name string
		h    heap
		want bool
	}{
		{"far from the trigger", heap{goal: 200 * mib, live: 100 * mib, objects: 110 * mib, cycle: 5 * mib}, false},
		{"the cycle reaches the lowest trigger", heap{goal: 200 * mib, live: 100 * mib, objects: 166 * mib, cycle: 5 * mib}, true},
		{"twice the cycle reaches it", heap{goal: 200 * mib, live: 100 * mib, objects: 162 * mib, cycle: 5 * mib}, true},
		{"already past it: the runtime collects", heap{goal: 200 * mib, live: 100 * mib, objects: 190 * mib, cycle: mib}, false},
		{"small heap", heap{goal: 40 * mib, live: 20 * mib, objects: 39 * mib, cycle: 5 * mib}, false},
		{"no cycle measured yet", heap{goal: 200 * mib, live: 100 * mib, objects: 190 * mib}, false},
		{"GOGC=off", heap{goal: math.MaxInt64, live: 100 * mib, objects: 190 * mib, cycle: 50 * mib}, false},
	} {
		if got := c.h.shouldCollect(DefaultMinHeap); got != c.want {
			t.Errorf("%s: shouldCollect(%+v) = %v, want %v", c.name, c.h, got, c.want)
		}
	}
}

// TestBurstStartedCollectsBeforeTheTrigger runs the real runtime: a live
// heap of 96 MiB (so a goal near 192 MiB at GOGC=100 and the lowest
// trigger near 163 MiB), a change cycle that allocates 28 MiB, and a burst
// start. Twice the cycle to come reaches the trigger, so the Pacer
// collects; right after, with the garbage gone, it does not.
func TestBurstStartedCollectsBeforeTheTrigger(t *testing.T) {
	ballast := liveHeap(t)
	p := New(Options{MinHeap: 32 << 20})
	p.BurstStarted() // the first burst only starts counting
	if p.running.Load() {
		t.Fatal("the first burst started a collection with no cycle measured")
	}

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	garbage := make([][]byte, 28)
	for i := range garbage {
		garbage[i] = make([]byte, 1<<20)
	}
	garbage = nil
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.NumGC != before.NumGC {
		t.Skip("the runtime collected while the cycle allocated (another test's garbage?); the premise does not hold")
	}
	p.BurstStarted()
	for deadline := time.Now().Add(30 * time.Second); p.Collections() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no collection after a burst whose cycle could cross the trigger")
		}
	}
	var collected runtime.MemStats
	runtime.ReadMemStats(&collected)
	if collected.NumGC == after.NumGC {
		t.Error("Collections counted a collection the runtime did not run")
	}

	p.BurstStarted() // the garbage is gone: far from the trigger again
	if p.running.Load() {
		t.Error("a burst right after a collection started another")
	}
	runtime.KeepAlive(ballast)
}

// TestBurstStartedIgnoresFullBuilds: a cycle that allocated more than the
// runway (a cold start) is not an estimate of the next edit, so it starts
// no collection.
func TestBurstStartedIgnoresFullBuilds(t *testing.T) {
	ballast := liveHeap(t)
	p := New(Options{MinHeap: 32 << 20})
	p.BurstStarted()
	for range 400 { // 400 MiB, four times the runway, collected on the way
		runtime.KeepAlive(make([]byte, 1<<20))
	}
	p.BurstStarted()
	if p.running.Load() || p.cycles != [2]uint64{} {
		t.Errorf("a full build's cycle was counted (cycles %v) or started a collection", p.cycles)
	}
	runtime.KeepAlive(ballast)
}

// liveHeap sets GOGC=100 and no memory limit for the test, and returns 96
// MiB to keep alive, collected once so that the live heap is known.
func liveHeap(t *testing.T) [][]byte {
	gogc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(gogc); debug.SetMemoryLimit(limit) })
	ballast := make([][]byte, 96)
	for i := range ballast {
		ballast[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	return ballast
}
