// Package fidelity checks that a proxy will execute config the way it is
// written: that every extension the config names is in the proxy's build
// (its profile.Profile), and that no field is one Envoy accepts but does
// not implement.
//
// ValidateAll() only says a message is well formed. A listener can pass it
// and still be rejected by the proxy it is sent to ("Didn't find a
// registered implementation for name: 'envoy.filters.network.generic_proxy'"
// from an istio-proxy sidecar), or be accepted and silently do something
// else (generic_proxy's weighted_clusters, which Envoy marks
// [#not-implemented-hide:], routes every call to cluster ""). The
// translator runs Check on everything it builds, after ValidateAll, and
// refuses what fails it; plugin authors can run it in their own tests.
//
// What counts as an extension use, as Envoy's registry looks it up
// (source/common/config/registry_utils.h, getAndCheckFactory: by the type
// of typed_config, then by name):
//
//   - a message with a string "name" and one google.protobuf.Any (Filter,
//     ListenerFilter, TransportSocket, TypedExtensionConfig, HttpFilter,
//     ThriftFilter, CustomClusterType, ...);
//   - an entry of a map of Any keyed by extension name
//     (typed_extension_protocol_options, typed_per_filter_config);
//   - any other Any, by its type alone;
//   - an xds.type.v3.TypedStruct (or udpa's) by the type URL it carries,
//     which is what Envoy looks up (getFactoryType);
//   - a cluster's discovery type (STATIC, EDS, ORIGINAL_DST, ...), which
//     selects the envoy.clusters.* extension of that name;
//   - an internal listener or internal address, which needs the
//     envoy.bootstrap.internal_listener bootstrap extension.
//
// Metadata (typed_filter_metadata) is not an extension use: Envoy ignores
// typed metadata it has no factory for.
package fidelity
