package aeraki_test

import (
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/aeraki"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest"
)

// conformance says how to run the conformance kit for each built-in
// plugin; plugins without a NetworkFilterBuilder (whole-proxy builders)
// are checked by their own tests.
var conformance = map[string]plugintest.Options{
	"dubbo": {PortName: "tcp-metaprotocol-dubbo"},
	// thrift_proxy matches the method exactly only; a header attribute
	// exercises every match kind.
	"thrift": {PortName: "tcp-metaprotocol-thrift", Attribute: "x-tenant"},
	// Redis routes with RedisService, not MetaRouter.
	"redis": {PortName: "tcp-redis", NoRouting: true},
	// A user-defined protocol parsed by stock Envoy's HTTP/1 codec.
	"metaprotocol": {Protocol: "legacyweb", Attribute: "x-tenant", Manifests: `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: ApplicationProtocol
metadata: {name: legacyweb}
spec: {protocol: legacyweb, codec: envoy.generic_proxy.codecs.http1}`},
}

// TestBuiltinPluginsConform runs plugintest on every built-in plugin, so
// the built-in plugins are held to what third-party plugins are.
func TestBuiltinPluginsConform(t *testing.T) {
	plugins, err := aeraki.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		if _, ok := p.(plugin.NetworkFilterBuilder); !ok {
			continue
		}
		opts, ok := conformance[p.Name()]
		if !ok {
			t.Errorf("built-in plugin %q has no entry in the conformance table", p.Name())
			continue
		}
		t.Run(p.Name(), func(t *testing.T) { plugintest.Run(t, p, opts) })
	}
}
