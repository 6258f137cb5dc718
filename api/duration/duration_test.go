package duration

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := map[Duration]time.Duration{
		"60s":   time.Minute,
		"100ms": 100 * time.Millisecond,
		"1.5s":  1500 * time.Millisecond,
		"1h30m": 90 * time.Minute,
		"10us":  10 * time.Microsecond,
		"10µs":  10 * time.Microsecond,
		"0s":    0,
	}
	for in, want := range good {
		got, err := in.Parse()
		if err != nil || got != want {
			t.Errorf("Duration(%q).Parse() = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []Duration{"", "10 seconds", "-1s", "5", "1d"} {
		if got, err := in.Parse(); err == nil {
			t.Errorf("Duration(%q).Parse() = %v, want an error", in, got)
		}
	}
}

func TestOrDefault(t *testing.T) {
	if got, err := Duration("").OrDefault(20 * time.Millisecond); err != nil || got != 20*time.Millisecond {
		t.Errorf("empty OrDefault = %v, %v; want the default", got, err)
	}
	if _, err := Duration("soon").OrDefault(time.Second); err == nil {
		t.Error("a malformed value must not fall back to the default")
	}
}
