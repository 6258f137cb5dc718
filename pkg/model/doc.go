// Package model is the mesh as aeraki's plugins see it: an immutable, indexed
// snapshot of services, their ports and protocols, subsets, endpoints,
// workloads, waypoints and the routing objects that configure them.
//
// Sources (a directory of YAML files, or a Kubernetes API server) fill a
// [Builder]; [Builder.Build] freezes the result into a [Snapshot]. Nothing
// after the source knows which source was used, and nothing in a Snapshot is
// ever mutated: a change produces a new Snapshot, and [Diff] tells which
// hosts it touched.
//
// Plugins read the snapshot through a [View]. A View records what it was
// asked (which hosts, which routers, which destination rules), so the
// translator can tell, for every piece of generated config, exactly which
// objects it depends on, and rebuild only that when one of them changes.
// Objects returned by a View are shared: callers must treat them as
// read-only.
package model
