package source_test

import (
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/source"
)

// TestDebouncerFiresOnceAfterABurst: many changes close together make one
// firing, after the quiet period.
func TestDebouncerFiresOnceAfterABurst(t *testing.T) {
	d := source.NewDebouncer(20*time.Millisecond, nil)
	defer d.Stop()
	for i := 0; i < 5; i++ {
		d.Changed()
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case <-d.C():
		d.Fired()
	case <-time.After(5 * time.Second):
		t.Fatal("the debouncer never fired")
	}
	select {
	case <-d.C():
		t.Fatal("one burst fired twice")
	case <-time.After(60 * time.Millisecond):
	}
}

// TestDebouncerCallsOnBurstOncePerBurst: the hook runs at the first
// change of a burst, before the wait, and again only after a firing.
func TestDebouncerCallsOnBurstOncePerBurst(t *testing.T) {
	bursts := 0
	d := source.NewDebouncer(20*time.Millisecond, func() { bursts++ })
	defer d.Stop()
	for round := 1; round <= 2; round++ {
		for range 3 {
			d.Changed()
			if bursts != round {
				t.Fatalf("round %d: onBurst ran %d times, want %d", round, bursts, round)
			}
		}
		select {
		case <-d.C():
			d.Fired()
		case <-time.After(5 * time.Second):
			t.Fatal("the debouncer never fired")
		}
	}
}

// TestDebouncerFiresDuringEndlessChanges: changes that never stop still
// get a rebuild, at the latest after the maximum wait.
func TestDebouncerFiresDuringEndlessChanges(t *testing.T) {
	d := source.NewDebouncer(100*time.Millisecond, nil) // max wait 1 s
	defer d.Stop()
	stop := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			d.Changed()
		case <-d.C():
			return
		case <-stop:
			t.Fatal("a steady stream of changes starved the rebuild")
		}
	}
}
