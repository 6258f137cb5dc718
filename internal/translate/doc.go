// Package translate turns a model.Snapshot into proxy config with the
// registered plugins. It is the middle stage of aeraki's one-way flow:
// sources build snapshots, translate builds config from them, the server
// only serves what translate produced.
//
// A translation runs in three steps:
//
//  1. validate: every routing object is checked by the core (hosts,
//     subsets, weights, ...) and by the plugins that own its ports; objects
//     with errors are reported and removed from the snapshot the plugins
//     see, so one bad object never breaks another;
//  2. build: for every service port a plugin claims, and every proxy role,
//     the plugin builds route config and network filters. Each build is a
//     unit cached with the snapshot keys it read; a later snapshot rebuilds
//     only the units whose keys changed. A unit whose plugin errors,
//     panics or emits config that fails ValidateAll keeps its last good
//     output if it has one, and otherwise fails closed;
//  3. assemble: unit outputs become Istio EnvoyFilters for sidecars (and,
//     in the ambient issue, listeners and clusters for waypoints).
package translate
