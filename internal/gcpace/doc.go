// Package gcpace moves the garbage collection a rebuild would start into
// the quiet period before it.
//
// A source waits out a debounce (100 ms by default) after the first change
// of a burst, and the control plane does next to nothing meanwhile. The
// rebuild that follows allocates, and when its allocation crosses the Go
// runtime's collection trigger, the collection runs beside the rebuild and
// the push: on a small machine its mark workers and assists take the CPU
// the rebuild, the gRPC writes and (in Kubernetes mode) the API server
// need, and the change reaches the proxies tens of milliseconds later. The
// mark work grows with the live heap, so the bigger the mesh, the longer
// such an edit.
//
// A Pacer is told when a burst starts (BurstStarted, from the source's
// goroutine). It compares what the heap holds plus what one change cycle
// allocated recently with the lowest trigger the runtime's pacer can pick
// (runtime/mgcpacer.go: at least 0.7 of the way from the last live heap to
// the heap goal). When the coming rebuild could cross it, the Pacer starts
// that collection now, in the background, so it runs during the wait.
// Otherwise it does nothing: it never adds collections a quiet mesh would
// not have had, it only starts them a little earlier.
package gcpace
