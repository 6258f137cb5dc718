package gcpace_test

import (
	"time"

	"github.com/aeraki-ng/aeraki/internal/gcpace"
	"github.com/aeraki-ng/aeraki/internal/source"
)

// A source tells the Pacer when a burst of changes starts its debounce;
// the collection the rebuild would have started runs during the wait.
func ExamplePacer() {
	pacer := gcpace.New(gcpace.Options{})
	debounce := source.NewDebouncer(100*time.Millisecond, pacer.BurstStarted)
	defer debounce.Stop()
	debounce.Changed() // the first change of a burst: the Pacer decides
	<-debounce.C()
	debounce.Fired()
	// rebuild and publish here
	// Output:
}
