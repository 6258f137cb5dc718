package aeraki_test

import (
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// envoySidecars are targets whose sidecars run upstream Envoy.
func envoySidecars() plugin.Targets {
	t := plugin.DefaultTargets()
	t.Sidecar = profile.MustGet(profile.Envoy)
	return t
}

// conformance says how to run the conformance kit for each built-in
// plugin, once per case (default builds unless a case names others);
// plugins without a NetworkFilterBuilder (whole-proxy builders) are
// checked by their own tests.
var conformance = map[string]map[string]plugintest.Options{
	"dubbo": {
		// dubbo_proxy on istio-proxy sidecars, generic_proxy (dubbo_proxy for
		// the weighted scenario) on the envoy waypoint.
		"default-builds": {PortName: "tcp-metaprotocol-dubbo"},
		"envoy-sidecars": {PortName: "tcp-metaprotocol-dubbo", Targets: envoySidecars()},
	},
	// thrift_proxy matches the method exactly only; a header attribute
	// exercises every match kind.
	"thrift": {"default-builds": {PortName: "tcp-metaprotocol-thrift", Attribute: "x-tenant"}},
	// Redis routes with RedisService, not MetaRouter.
	"redis": {"default-builds": {PortName: "tcp-redis", NoRouting: true}},
	"metaprotocol": {
		// A user-defined protocol parsed by stock Envoy's HTTP/1 codec: only
		// builds with generic_proxy carry it.
		"http1-on-envoy": {Protocol: "legacyweb", Attribute: "x-tenant", Targets: envoySidecars(), Manifests: `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: ApplicationProtocol
metadata: {name: legacyweb}
spec: {protocol: legacyweb, codec: envoy.generic_proxy.codecs.http1}`},
		// The Dubbo codec under a name of the user's: dubbo_proxy on istio-proxy.
		"dubbo-codec-default-builds": {Protocol: "mydubbo", Attribute: "x-tenant", Manifests: `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: ApplicationProtocol
metadata: {name: mydubbo}
spec: {protocol: mydubbo, codec: dubbo}`},
	},
}

// TestBuiltinPluginsConform runs plugintest on every built-in plugin, so
// the built-in plugins are held to what third-party plugins are.
func TestBuiltinPluginsConform(t *testing.T) {
	plugins := builtin.Plugins()
	for _, p := range plugins {
		if _, ok := p.(plugin.NetworkFilterBuilder); !ok {
			continue
		}
		cases, ok := conformance[p.Name()]
		if !ok {
			t.Errorf("built-in plugin %q has no entry in the conformance table", p.Name())
			continue
		}
		for name, opts := range cases {
			t.Run(p.Name()+"/"+name, func(t *testing.T) { plugintest.Run(t, p, opts) })
		}
	}
}
