package thrift

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/router/v3"
	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Name is the plugin's registered name.
const Name = "thrift"

// Envoy names of thrift_proxy and its router.
const (
	// FilterName is the network filter name of thrift_proxy.
	FilterName = "envoy.filters.network.thrift_proxy"
	// RouterFilterName is thrift_proxy's terminal router filter.
	RouterFilterName = "envoy.filters.thrift.router"
)

// Plugin builds thrift_proxy filters. It keeps no state: one value serves
// concurrent builds.
type Plugin struct{}

var (
	_ plugin.RouteConfigBuilder   = (*Plugin)(nil)
	_ plugin.NetworkFilterBuilder = (*Plugin)(nil)
	_ plugin.ObjectValidator      = (*Plugin)(nil)
	_ plugin.Describer            = (*Plugin)(nil)
)

// New returns the Thrift plugin.
func New() *Plugin { return &Plugin{} }

// Name implements plugin.Plugin.
func (*Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin.
func (*Plugin) Protocols() []model.Protocol { return []model.Protocol{model.ProtocolThrift} }

// Description implements plugin.Describer.
func (*Plugin) Description() string {
	return "Thrift routing by method, service and headers with thrift_proxy"
}

// BuildRouteConfig implements plugin.RouteConfigBuilder: a thrift_proxy
// route table. The route table is kept apart from the filter so render and
// trace can show and follow it.
func (p *Plugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	f := portFraming(ctx)
	var limits *rateLimits
	switch ctx.Role {
	case plugin.RoleSidecarOutbound:
		limits = globalRateLimit(ctx, true)
		warnLocalRateLimits(ctx)
	case plugin.RoleWaypoint:
		warnWaypointRateLimits(ctx)
		warnLocalRateLimits(ctx)
	}
	return routeTable(ctx, ctx.StatPrefix(), metaroute.ForPort(ctx), f, limits), nil
}

// BuildNetworkFilters implements plugin.NetworkFilterBuilder: thrift_proxy
// with the route table inline and the router (after the rate limit filter
// when a MetaRouter sets a global rate limit).
func (p *Plugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	rc, ok := ctx.RouteConfig.(*thriftv3.RouteConfiguration)
	if !ok {
		return nil, fmt.Errorf("thrift_proxy needs a thrift_proxy route configuration, got %T", ctx.RouteConfig)
	}
	f := portFraming(ctx)
	tp := &thriftv3.ThriftProxy{
		StatPrefix:  ctx.StatPrefix(),
		Transport:   f.transport,
		Protocol:    f.protocol,
		RouteConfig: rc,
	}
	if ctx.Role == plugin.RoleSidecarOutbound {
		if limits := globalRateLimit(ctx, false); limits != nil {
			tp.ThriftFilters = append(tp.ThriftFilters, limits.filter)
		}
	}
	tp.ThriftFilters = append(tp.ThriftFilters, &thriftv3.ThriftFilter{Name: RouterFilterName, ConfigType: &thriftv3.ThriftFilter_TypedConfig{TypedConfig: xds.MustAny(&routerv3.Router{})}})
	return []*listenerv3.Filter{xds.NetworkFilter(FilterName, tp)}, nil
}

// portFraming is the port's transport and protocol: its own words first,
// then the thrift ApplicationProtocol's, else auto-detection.
func portFraming(ctx *plugin.BuildContext) framing {
	f := parseFraming(portWords(ctx.Port))
	if ap := ctx.Model.ApplicationProtocol(model.ProtocolThrift); ap != nil {
		f = f.over(parseFraming(ap.Spec.Codec))
	}
	return f
}

// portWords is what names the port's protocol: the appProtocol when it
// says thrift, else the name.
func portWords(p *model.Port) string {
	if p.Source == "appProtocol" {
		return p.AppProtocol
	}
	return p.Name
}

// warnWaypointRateLimits says why a waypoint does not call the rate limit
// service: its rateLimitService names a sidecar cluster
// (outbound|<port>||<host>), and a waypoint only has clusters for the
// services bound to it, so the filter would name a cluster Envoy does not
// have and the waypoint's listener would be rejected.
func warnWaypointRateLimits(ctx *plugin.BuildContext) {
	for _, mr := range ctx.MetaRouters {
		if mr.Spec.GlobalRateLimit != nil {
			ctx.Warnf(metaroute.RouterRef(mr), "spec.globalRateLimit", conditions.ReasonUnsupportedValue,
				"waypoint %s/%s has no cluster for the rate limit service %q; the global rate limit applies on sidecars only",
				ctx.Waypoint.Namespace, ctx.Waypoint.Name, mr.Spec.GlobalRateLimit.RateLimitService)
		}
	}
}

func warnLocalRateLimits(ctx *plugin.BuildContext) {
	for _, mr := range ctx.MetaRouters {
		if mr.Spec.LocalRateLimit != nil {
			ctx.Warnf(metaroute.RouterRef(mr), "spec.localRateLimit", conditions.ReasonUnsupportedValue,
				"stock Envoy's thrift_proxy has no local rate limit filter; calls to %s are not rate limited locally (use globalRateLimit with a rate limit service)", ctx.Service.Hostname)
		}
	}
}
