// Package status writes status.conditions on aeraki's own objects
// (MetaRouter, ApplicationProtocol, RedisService, RedisDestination,
// DubboAuthorizationPolicy) in Kubernetes mode, so an operator sees on the
// object whether it was accepted and served, with `kubectl get` and
// `kubectl describe`.
//
// # What the conditions mean
//
// Conditions are computed from one generation: the snapshot the source
// delivered, the diagnostics of the source and the translator about each
// object, and the translator's units (Compute). Every object gets all
// three, with observedGeneration set to the metadata.generation of the
// object the generation was built from.
//
//   - Accepted is False when the object has any error: it is then left out
//     as a whole (the translator rejects it) and proxies keep their last
//     good config. The reason is the first error's (HostNotFound,
//     SubsetNotFound, UnsupportedProtocol, InvalidRoute, ...), the message
//     lists every error with its field. Warnings (a field the data plane
//     cannot carry, reason UnsupportedValue, ...) keep Accepted=True with
//     reason Accepted, and the message lists them with their reasons
//     ("Accepted with 1 warning: spec.routes[0].fault: ... (UnsupportedValue)"),
//     so `kubectl describe` shows them; warnings are not errors, and a
//     True condition with a failure-sounding reason would mislead tools
//     that read reasons.
//   - ResolvedRefs is False when a finding, error or warning, is about a
//     reference (HostNotFound, SubsetNotFound, RefNotFound), with that
//     reason; True otherwise.
//   - Programmed is True when the object is accepted and the config built
//     from it is being served: the status writer is told about a
//     generation only after the server published it to its xDS and MCP
//     caches, which is what istiod and proxies receive. It is False with
//     reason Invalid when the object is not accepted, and False with the
//     plugin's reason (PluginError, PluginPanic) when a service port built
//     from the object failed: the port then keeps its last good config or
//     fails closed, as the message says. Whether istiod accepted what it
//     was sent is on the server's /debug/syncz.
//
// # Who writes, and when
//
// Only the leader writes (Writer.Run runs while the replica holds the
// Lease); every replica computes, so a new leader writes at once. A write
// happens only when the desired conditions differ from the object's current
// ones, compared without lastTransitionTime, and only through the status
// subresource, with the resourceVersion it read (a conflict is retried
// with the next pass). Objects whose generation moved past the snapshot's
// are skipped: a newer generation is on its way.
package status
