// Package plugin is aeraki's plugin SDK: how a Go module teaches aeraki a
// protocol without forking it.
//
// A plugin is a value implementing [Plugin] (a name and the protocols it
// claims) plus any of the small capability interfaces:
//
//   - [RouteConfigBuilder] builds the protocol's route table for one
//     service port from the MetaRouters that apply to it;
//   - [NetworkFilterBuilder] builds the Envoy network filters that replace
//     tcp_proxy for that port — on a sidecar's outbound and inbound side,
//     and in a waypoint's per-service chain;
//   - [ObjectValidator] checks protocol-specific rules of routing objects
//     before anything is built, so a bad object is reported and left out;
//   - [ClusterPatcher] sets fields of the upstream clusters of those
//     ports (Redis credentials, Envoy's Redis Cluster discovery): on
//     sidecars as EnvoyFilter CLUSTER patches (MERGE, matched by the
//     cluster's exact name), in waypoints through [L7Chain].PatchCluster,
//     which the ProxyBuilder applies to the clusters it builds;
//   - [CallerClassifier] names the caller classes (an exact SPIFFE id, a
//     namespace) whose chain for a port differs, on proxies that pick a
//     chain by caller ([L7Request].ByCaller: aeraki-served waypoints); the
//     core then builds one chain per class with [BuildContext].Caller set;
//   - [Configurable] takes options from the command line;
//   - [ProxyBuilder] owns whole proxies (the built-in HBONE plugin builds
//     ztunnels and waypoints this way). What many of its proxies compute
//     alike from the whole mesh is a [SharedPiece], built once per
//     translation ([ProxyContext].Shared reads its Value,
//     [ProxyContext].Include serves its resources as part of the proxy):
//     a change the piece absorbs rebuilds no proxy, and a change to its
//     resources is swapped into every proxy including it without their
//     builds running again.
//
// Plugins never see Kubernetes: a [BuildContext] hands them a read-only
// [model.View] of the mesh, the service port and role being built, and
// the MetaRouters that already passed the core's checks. Whatever a plugin
// reads through the View becomes a dependency of what it builds, so aeraki
// rebuilds it only when one of those objects changes.
//
// Errors have two channels. A problem with one object (a field Envoy
// cannot carry) goes to BuildContext.Report or Warnf and lands in that
// object's status; the build goes on. A returned error (or a panic) means
// the plugin could not build the port at all: the port keeps its last good
// config, or fails closed, and the error is reported with the plugin's
// name. Every Envoy message a plugin returns must pass ValidateAll,
// including those packed in Any; output that does not is never served.
// A plugin that packs its filters through [BuildContext.Pack] (or
// [BuildContext.NetworkFilter]) saves the core decoding them again for
// its checks, and must not modify a message once packed.
//
// A plugin with nothing to add for a port in some role (or whose data
// plane cannot carry the port's protocol at all) returns [ErrSkipPort]:
// the port stays plain TCP there, and nothing fails closed. Policies never
// use it: a policy that cannot be built fails the port closed.
//
// [ClusterBlackHole] and [FilterStatePeerPrincipal] are the names protocol
// plugins and waypoint builders share: the cluster a denied call is routed
// to, and the filter state holding the caller's identity behind a
// waypoint's internal listener.
//
// Plugins are registered explicitly in a [Registry], which refuses two
// plugins with one name or one protocol. A custom aeraki binary is a
// main.go calling aeraki.Main with the plugin (see package
// github.com/aeraki-ng/aeraki/pkg/aeraki), and the conformance kit in
// plugintest checks a plugin from its author's own tests.
package plugin
