package metaprotocol

import (
	"fmt"
	"strings"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// ValidateObject implements plugin.ObjectValidator for the protocols this
// plugin owns (those no other plugin claims by name):
//
//   - an ApplicationProtocol needs a codec, and one some data plane aeraki
//     programs can carry: a stock codec, or any codec with the aeraki-proxy
//     option on;
//   - a MetaRouter for such a port needs that port's protocol to have such
//     an ApplicationProtocol, or it would route nothing.
//
// Each says what is missing and what would carry it.
func (p *Plugin) ValidateObject(ctx *plugin.ValidateContext, obj model.ObjectInfo) []model.Diagnostic {
	switch o := obj.Object.(type) {
	case *metaprotocolv1alpha1.ApplicationProtocol:
		proto := model.Protocol(strings.ToLower(strings.TrimSpace(o.Spec.Protocol)))
		if proto == "" || !owns(ctx, proto) {
			return nil
		}
		if strings.TrimSpace(o.Spec.Codec) == "" {
			return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.codec", Reason: "InvalidCodec",
				Message: fmt.Sprintf("the codec is empty, so ports of protocol %q cannot be parsed and stay plain TCP; name the codec, e.g. envoy.generic_proxy.codecs.http1 or aeraki.meta_protocol.codec.%s", proto, proto)}}
		}
		if c, _ := codecFor(ctx.Model, proto); c.stock == nil && !p.aerakiProxy && ctx.Model.ApplicationProtocol(proto) == o {
			return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.codec", Reason: conditions.ReasonUnsupportedValue, Message: p.needsAeraki(c.name, proto)}}
		}
	case *metaprotocolv1alpha1.MetaRouter:
		for _, port := range ctx.ClaimedPorts(o.Spec.Hosts, o.Namespace) {
			c, ok := codecFor(ctx.Model, port.Protocol)
			switch {
			case !ok:
				return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.hosts", Reason: conditions.ReasonUnsupportedProtocol,
					Message: fmt.Sprintf("port %s is protocol %q, which no ApplicationProtocol (with a codec) defines; apply one naming the codec that parses it", port, port.Protocol)}}
			case c.stock == nil && !p.aerakiProxy:
				return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.hosts", Reason: conditions.ReasonUnsupportedProtocol,
					Message: fmt.Sprintf("not applied to port %s: %s", port, p.needsAeraki(c.name, port.Protocol))}}
			}
		}
	}
	return nil
}

// needsAeraki explains that a codec only Aeraki's proxy has is off.
func (p *Plugin) needsAeraki(codec string, proto model.Protocol) string {
	return fmt.Sprintf("codec %q exists only in Aeraki's meta-protocol proxy, not in stock Envoy, so ports of protocol %q stay plain TCP; if your proxies run the meta-protocol proxy image, set --plugin-option %s.%s=true",
		codec, proto, Name, OptionAerakiProxy)
}

// owns reports whether ports of a protocol (tcp-metaprotocol-<protocol>)
// belong to this plugin.
func owns(ctx *plugin.ValidateContext, proto model.Protocol) bool {
	return ctx.Claims != nil && ctx.Claims(&model.Port{ProtocolInfo: model.ProtocolInfo{Protocol: proto, Meta: true}})
}
