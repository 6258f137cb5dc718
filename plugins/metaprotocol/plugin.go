package metaprotocol

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// Name is the plugin's registered name.
const Name = "metaprotocol"

// removedOptionAerakiProxy is the option that once programmed Aeraki's
// meta-protocol proxy; the proxy build (profile) says that now.
const removedOptionAerakiProxy = "aeraki-proxy"

// Plugin builds user-defined protocols. It has no state: which filter
// carries a port follows from the build of the proxy (BuildContext.Profile).
type Plugin struct{}

var (
	_ plugin.RouteConfigBuilder   = (*Plugin)(nil)
	_ plugin.NetworkFilterBuilder = (*Plugin)(nil)
	_ plugin.ObjectValidator      = (*Plugin)(nil)
	_ plugin.Configurable         = (*Plugin)(nil)
	_ plugin.Describer            = (*Plugin)(nil)
)

// Options configure the plugin when it is built into a binary. There are
// none yet; the struct keeps New's signature stable.
type Options struct{}

// New returns the plugin.
func New(Options) *Plugin { return &Plugin{} }

// Name implements plugin.Plugin.
func (*Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin: every meta-protocol no other plugin
// claims by name.
func (*Plugin) Protocols() []model.Protocol { return []model.Protocol{plugin.AnyMetaProtocol} }

// Description implements plugin.Describer.
func (p *Plugin) Description() string {
	return "user-defined protocols from ApplicationProtocols: stock codecs (dubbo, http1) through generic_proxy or dubbo_proxy, Aeraki's codecs through its meta-protocol proxy where the proxy build has it"
}

// Configure implements plugin.Configurable. The plugin takes no options;
// the one it used to take (aeraki-proxy) is refused with what replaced it.
func (p *Plugin) Configure(opts map[string]string) error {
	for k := range opts {
		if k == removedOptionAerakiProxy {
			return fmt.Errorf("option %s was replaced by the proxy build: if your sidecars run Aeraki's meta-protocol proxy image, pass --sidecar-proxy aeraki-meta-protocol-proxy (and --waypoint-proxy likewise for waypoints)", k)
		}
		return fmt.Errorf("unknown option %q: the plugin takes no options", k)
	}
	return nil
}

// BuildRouteConfig implements plugin.RouteConfigBuilder: the route table
// of the filter that carries the port's codec on the build (carrierOn).
// A port whose codec the build cannot carry is left at L4 with a warning
// on the ApplicationProtocol (ValidateObject already refused codecs no
// configured build carries).
func (p *Plugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	c, how, err := p.plan(ctx)
	if err != nil {
		return nil, err
	}
	routes := metaroute.Build(ctx)
	warnRateLimits(ctx)
	switch how {
	case carrierGenericProxy:
		routes = refuseWeights(ctx, routes)
		return genericproxy.RouteConfig(ctx, ctx.StatPrefix(), routes, c.inputs), nil
	case carrierDubboProxy:
		return dubbo.ProxyRoutes(ctx, ctx.StatPrefix(), routes), nil
	}
	return aerakiRouteConfig(ctx, ctx.StatPrefix(), routes)
}

// BuildNetworkFilters implements plugin.NetworkFilterBuilder.
func (p *Plugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	c, _, err := p.plan(ctx)
	if err != nil {
		return nil, err
	}
	switch rc := ctx.RouteConfig.(type) {
	case *genericv3.RouteConfiguration:
		return []*listenerv3.Filter{genericproxy.Filter(ctx.StatPrefix(), c.stock, rc)}, nil
	case *dubbov3.MultipleRouteConfiguration:
		return []*listenerv3.Filter{dubbo.ProxyFilter(ctx, rc)}, nil
	case *structpb.Struct:
		f, err := aerakiFilter(ctx, c, rc)
		if err != nil {
			return nil, err
		}
		return []*listenerv3.Filter{f}, nil
	}
	return nil, fmt.Errorf("unexpected route configuration %T", ctx.RouteConfig)
}

// plan returns the port's codec and what carries it on the build, else
// ErrSkipPort (the port stays TCP; the reason is on the objects).
func (p *Plugin) plan(ctx *plugin.BuildContext) (codec, carrier, error) {
	c, ok := codecFor(ctx.Model, ctx.Port.Protocol)
	if !ok {
		return codec{}, carrierNone, fmt.Errorf("no ApplicationProtocol gives protocol %q a codec: %w", ctx.Port.Protocol, plugin.ErrSkipPort)
	}
	weighted := c.dubbo && genericproxy.Weighted(metaroute.Build(ctx)) != nil
	how := c.carrierOn(ctx.Profile, weighted)
	if how == carrierNone {
		if ap := ctx.Model.ApplicationProtocol(ctx.Port.Protocol); ap != nil {
			ctx.Warnf(model.ObjectRef{Group: metaprotocolv1alpha1.GroupName, Kind: "ApplicationProtocol", Namespace: ap.Namespace, Name: ap.Name}, "spec.codec", conditions.ReasonUnsupportedValue,
				"port %s of %s stays plain TCP on %s proxies: their build (%s) lacks %s", ctx.Port, ctx.Service.Hostname, ctx.Role, ctx.Profile.Name, c.needs())
		}
		return codec{}, carrierNone, fmt.Errorf("proxy build %s cannot carry codec %q: %w", ctx.Profile.Name, c.name, plugin.ErrSkipPort)
	}
	return c, how, nil
}

// refuseWeights leaves out, with an error on its MetaRouter, every route
// that splits calls by weight on a port only generic_proxy carries: Envoy's
// generic_proxy does not implement weighted_clusters and would end every
// such call in cluster_not_found.
func refuseWeights(ctx *plugin.BuildContext, routes []metaroute.Route) []metaroute.Route {
	var out []metaroute.Route
	for _, r := range routes {
		if r.Weighted() {
			ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: r.Object, Field: r.Field, Reason: "WeightsNotImplemented",
				Message: fmt.Sprintf("route %q splits calls by weight, which Envoy's generic_proxy does not implement (every call would end in cluster_not_found) and no other filter of proxy build %s carries protocol %q; the route is left out: give it a single destination", r.Name, ctx.Profile.Name, ctx.Port.Protocol)})
			continue
		}
		out = append(out, r)
	}
	return metaroute.WithDefault(ctx, out)
}

func warnRateLimits(ctx *plugin.BuildContext) {
	for _, mr := range ctx.MetaRouters {
		ref := metaroute.RouterRef(mr)
		if mr.Spec.LocalRateLimit != nil {
			ctx.Warnf(ref, "spec.localRateLimit", conditions.ReasonUnsupportedValue, "rate limits are not programmed for protocol %q; calls to %s are not rate limited", ctx.Port.Protocol, ctx.Service.Hostname)
		}
		if mr.Spec.GlobalRateLimit != nil {
			ctx.Warnf(ref, "spec.globalRateLimit", conditions.ReasonUnsupportedValue, "rate limits are not programmed for protocol %q; calls to %s are not rate limited", ctx.Port.Protocol, ctx.Service.Hostname)
		}
	}
}
