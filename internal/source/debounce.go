package source

import "time"

// Debouncer turns a burst of changes into one rebuild: it fires delay
// after the last change, but no later than a maximum wait after the first
// change of the burst (ten times delay, at least a second), so a store
// that never stops changing is still rebuilt. Both sources use it, so both
// follow the same rule. It is used from one goroutine.
type Debouncer struct {
	delay, maxWait time.Duration
	onBurst        func()
	timer          *time.Timer
	armed          bool
	deadline       time.Time
}

// NewDebouncer returns a stopped Debouncer. onBurst, when not nil, is
// called by the first Changed of each burst, before the wait begins: the
// quiet period is when the serve command's collection pacer
// (internal/gcpace) collects, so the rebuild does not run beside a
// collection.
func NewDebouncer(delay time.Duration, onBurst func()) *Debouncer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Debouncer{delay: delay, maxWait: max(10*delay, time.Second), onBurst: onBurst, timer: t}
}

// Changed records a change and (re)schedules the firing.
func (d *Debouncer) Changed() {
	now := time.Now()
	if !d.armed {
		d.armed, d.deadline = true, now.Add(d.maxWait)
		if d.onBurst != nil {
			d.onBurst()
		}
	}
	d.timer.Reset(min(d.delay, max(d.deadline.Sub(now), 0)))
}

// C delivers when it is time to rebuild; call Fired after receiving.
func (d *Debouncer) C() <-chan time.Time { return d.timer.C }

// Fired ends the burst: the next change starts a new one.
func (d *Debouncer) Fired() { d.armed = false }

// Stop releases the timer.
func (d *Debouncer) Stop() { d.timer.Stop() }
