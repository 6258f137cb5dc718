// Package plugintest is the conformance kit for aeraki plugins. A plugin
// author calls [Run] from a test in their own module:
//
//	func TestConformance(t *testing.T) {
//		plugintest.Run(t, awesomerpc.New(), plugintest.Options{
//			Manifests: applicationProtocolYAML, // what the plugin needs to exist
//		})
//	}
//
// Run puts the plugin through the same pipeline aeraki runs (validation,
// the translator with its validation gate, EnvoyFilter assembly) on a small
// mesh, in standard scenarios, as subtests:
//
//   - no MetaRouter, a route per match kind (exact, prefix, regex,
//     presence), subsets with weights;
//   - every role: sidecar outbound, sidecar inbound, waypoint, each built
//     for its proxy build (Options.Targets, default plugin.DefaultTargets);
//   - a malformed MetaRouter and one naming an unknown host, which must be
//     reported on the router and never reach the plugin;
//
// and checks what every plugin owes its users: every Envoy message passes
// ValidateAll (inside Any too) and the fidelity gate (every extension in
// the proxy's build, no field Envoy does not implement); cluster names follow the mesh's
// conventions and name real services, ports and subsets; diagnostics
// carry the plugin's name and the object they concern; a panic is caught
// and reported as a failure of the scenario; the output is deterministic
// (same input, byte-equal output); a message packed through
// BuildContext.Pack is still what its Any holds once the build is done
// (not modified after, no nil entries); and the plugin is safe to call from many
// goroutines at once (run your tests with -race to make that check bite).
package plugintest
