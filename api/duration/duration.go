// Package duration provides Duration, the string form of a time span used by
// the aeraki APIs.
//
// Aeraki's CRDs declare durations as strings ("60s", "100ms"), and existing
// manifests write them that way, so the Go type stays a string to round-trip
// them byte for byte; Parse turns it into a time.Duration for the code that
// builds proxy configuration.
package duration

import (
	"fmt"
	"time"
)

// Duration is a span of time written as a sequence of decimal numbers, each
// with a unit suffix, such as "100ms", "1.5s" or "1h30m". Valid units are
// "ns", "us" (or "µs"), "ms", "s", "m" and "h". A sign is not allowed.
// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
// +kubebuilder:validation:MaxLength=64
type Duration string

// Parse returns the span as a time.Duration. An empty Duration is an error:
// callers check for emptiness first when the field is optional.
func (d Duration) Parse() (time.Duration, error) {
	if d == "" {
		return 0, fmt.Errorf("empty duration")
	}
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", string(d), err)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", string(d))
	}
	return v, nil
}

// OrDefault returns the parsed span, or def when the Duration is empty. It
// still reports a malformed value, so a bad field is never silently replaced.
func (d Duration) OrDefault(def time.Duration) (time.Duration, error) {
	if d == "" {
		return def, nil
	}
	return d.Parse()
}
