package metaprotocol

import (
	"fmt"
	"strings"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// ValidateObject implements plugin.ObjectValidator for the protocols this
// plugin owns (those no other plugin claims by name):
//
//   - an ApplicationProtocol needs a codec, and one that some proxy build
//     aeraki configures (ctx.Targets) can carry;
//   - a MetaRouter for such a port needs that port's protocol to have such
//     an ApplicationProtocol, or it would route nothing.
//
// Each says what is missing and what would carry it. A codec that some
// configured build carries but another does not is no error here: the
// ports stay plain TCP on the proxies that cannot carry it, with a warning
// when they are built (BuildRouteConfig).
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
		if c, _ := codecFor(ctx.Model, proto); ctx.Model.ApplicationProtocol(proto) == o && len(c.carriedBy(ctx.Targets.RoleBuilds())) == 0 {
			return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.codec", Reason: conditions.ReasonUnsupportedValue, Message: uncarried(ctx, c, proto)}}
		}
	case *metaprotocolv1alpha1.MetaRouter:
		for _, port := range ctx.ClaimedPorts(o.Spec.Hosts, o.Namespace) {
			c, ok := codecFor(ctx.Model, port.Protocol)
			switch {
			case !ok:
				return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.hosts", Reason: conditions.ReasonUnsupportedProtocol,
					Message: fmt.Sprintf("port %s is protocol %q, which no ApplicationProtocol (with a codec) defines; apply one naming the codec that parses it", port, port.Protocol)}}
			case len(c.carriedBy(ctx.Targets.RoleBuilds())) == 0:
				return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.hosts", Reason: conditions.ReasonUnsupportedProtocol,
					Message: fmt.Sprintf("not applied to port %s: %s", port, uncarried(ctx, c, port.Protocol))}}
			}
		}
	}
	return nil
}

// uncarried explains that no configured build carries a codec, and which
// known builds would.
func uncarried(ctx *plugin.ValidateContext, c codec, proto model.Protocol) string {
	var inUse []string
	for _, p := range ctx.Targets.RoleBuilds() {
		inUse = append(inUse, p.Name)
	}
	msg := fmt.Sprintf("codec %q needs %s, which none of the proxy builds aeraki configures has (%s), so ports of protocol %q stay plain TCP", c.name, c.needs(), strings.Join(inUse, ", "), proto)
	if carriers := c.carriedBy(profile.Builtin().All()); len(carriers) > 0 {
		return msg + fmt.Sprintf("; if your proxies run %s, select it (for sidecars: --sidecar-proxy %s)", strings.Join(carriers, " or "), carriers[0])
	}
	return msg + fmt.Sprintf("; no known build has it (Aeraki's meta-protocol proxy image, profile %s, has the dubbo, thrift, brpc and trpc codecs): a custom build needs a profile of its own (--proxy-profile-file)", profile.AerakiMetaProtocolProxy)
}

// owns reports whether ports of a protocol (tcp-metaprotocol-<protocol>)
// belong to this plugin.
func owns(ctx *plugin.ValidateContext, proto model.Protocol) bool {
	return ctx.Claims != nil && ctx.Claims(&model.Port{ProtocolInfo: model.ProtocolInfo{Protocol: proto, Meta: true}})
}
