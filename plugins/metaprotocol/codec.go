package metaprotocol

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	dubbocodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/dubbo/v3"
	http1codecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/http1/v3"

	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
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
	return codec{name: name, stock: xds.TypedConfig("envoy.generic_proxy.codecs.dubbo", &dubbocodecv3.DubboCodecConfig{}), inputs: dubbo.Inputs}
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
