package metaprotocol

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	dubbocodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/dubbo/v3"
	http1codecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/http1/v3"

	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/dubbo" // dubbo_proxy, which carries the Dubbo codec on builds without generic_proxy
)

// codec is how a port's traffic is parsed.
type codec struct {
	// name is the ApplicationProtocol's codec as written.
	name string
	// stock is the generic_proxy codec config for codecs stock Envoy has;
	// nil for codecs only Aeraki's meta-protocol proxy has.
	stock *corev3.TypedExtensionConfig
	// inputs map attributes onto generic_proxy's request inputs.
	inputs genericproxy.Inputs
	// dubbo is true for the Dubbo codec, which dubbo_proxy also carries.
	dubbo bool
}

// stockCodecs are the codecs stock Envoy's generic_proxy has, by the names
// users write for them.
var stockCodecs = map[string]func(name string) codec{
	"aeraki.meta_protocol.codec.dubbo": dubboCodec,
	"envoy.generic_proxy.codecs.dubbo": dubboCodec,
	"dubbo":                            dubboCodec,
	"envoy.generic_proxy.codecs.http1": http1Codec,
	"http1":                            http1Codec,
}

func dubboCodec(name string) codec {
	return codec{name: name, stock: xds.TypedConfig(genericproxy.DubboCodecName, &dubbocodecv3.DubboCodecConfig{}), inputs: genericproxy.DubboInputs(), dubbo: true}
}

func http1Codec(name string) codec {
	return codec{name: name, stock: xds.TypedConfig("envoy.generic_proxy.codecs.http1", &http1codecv3.Http1CodecConfig{}),
		inputs: genericproxy.Inputs{Host: "host", Path: "path", Method: "method"}}
}

// codecFor returns the codec of a protocol from its ApplicationProtocol;
// ok is false when there is no ApplicationProtocol or it names no codec.
func codecFor(view *model.View, protocol model.Protocol) (codec, bool) {
	ap := view.ApplicationProtocol(protocol)
	if ap == nil {
		return codec{}, false
	}
	name := strings.TrimSpace(ap.Spec.Codec)
	if name == "" {
		return codec{}, false
	}
	if mk, ok := stockCodecs[strings.ToLower(name)]; ok {
		return mk(name), true
	}
	return codec{name: name}, true
}

// carrier is the filter that carries a codec's ports on a build.
type carrier int

const (
	carrierNone carrier = iota
	// carrierAeraki is Aeraki's MetaProtocolProxy with the codec as named.
	carrierAeraki
	// carrierGenericProxy is generic_proxy with the stock codec.
	carrierGenericProxy
	// carrierDubboProxy is dubbo_proxy, for the Dubbo codec.
	carrierDubboProxy
)

// carrierOn picks what carries c on build p, in order of preference: the
// codec as the user named it in Aeraki's image (which is what such users
// run it with), generic_proxy with a stock codec, dubbo_proxy for Dubbo.
// weighted says a route splits calls by weight, which generic_proxy
// ignores: the Dubbo codec then goes to dubbo_proxy where the build has
// it.
func (c codec) carrierOn(p *profile.Profile, weighted bool) carrier {
	if p.Has(AerakiFilterName) && p.Has(c.name) {
		return carrierAeraki
	}
	gp := c.stock != nil && p.Has(genericproxy.FilterName) && p.Has(c.stock.GetName()) && p.Has(dubbo.RouterName)
	dp := c.dubbo && p.Has(dubbo.DubboProxyFilterName)
	switch {
	case gp && !(weighted && dp):
		return carrierGenericProxy
	case dp:
		return carrierDubboProxy
	}
	return carrierNone
}

// carriedBy names the builds among ps whose filters carry c.
func (c codec) carriedBy(ps []*profile.Profile) []string {
	var out []string
	for _, p := range ps {
		if c.carrierOn(p, false) != carrierNone {
			out = append(out, p.Name)
		}
	}
	return out
}

// needs says what a build must have to carry c, for messages.
func (c codec) needs() string {
	switch {
	case c.dubbo:
		return fmt.Sprintf("generic_proxy with %s, or dubbo_proxy", c.stock.GetName())
	case c.stock != nil:
		return "generic_proxy with " + c.stock.GetName()
	}
	return fmt.Sprintf("Aeraki's %s with the codec %s", AerakiFilterName, c.name)
}
