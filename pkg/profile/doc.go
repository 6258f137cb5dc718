// Package profile names the proxy builds aeraki configures and says, for
// each, which Envoy extensions it has: a profile is what a given binary
// (Istio's istio-proxy, upstream Envoy, Aeraki's meta-protocol proxy, the
// grpc-go xDS client) will accept in a listener, a cluster or a route.
//
// Config is correct only when the proxy that runs it has every extension
// it names: Envoy rejects a listener whose filter it cannot find ("Didn't
// find a registered implementation for name: ..."), and with it every
// chain of that listener. Plugins therefore choose filters by the profile
// of the proxy they build for (plugin.BuildContext.Profile), and the
// translator's fidelity gate (pkg/fidelity) refuses anything a profile
// lacks before it is served.
//
// Each built-in profile is one data file under data/, generated from the
// build's own extension list at a pinned commit (istio/proxy's
// bazel/extension_config/extensions_build_config.bzl, upstream Envoy's
// source/extensions/extensions_build_config.bzl, ...) and from the API
// protos that map extension names to their config types; the file records
// every source it came from. docs/profiles.md says how to refresh one.
//
// Lookups follow Envoy's registry: an extension is found by the type of
// its typed_config first, then by its name (Envoy's
// source/common/config/registry_utils.h, getAndCheckFactory).
package profile
