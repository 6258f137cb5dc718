package redis

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/api/conditions"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Name is the plugin's registered name.
const Name = "redis"

// FilterName is the network filter name of redis_proxy.
const FilterName = "envoy.filters.network.redis_proxy"

// Plugin builds redis_proxy filters and patches Redis clusters. It keeps
// no state: one value serves concurrent builds.
type Plugin struct{}

var (
	_ plugin.RouteConfigBuilder   = (*Plugin)(nil)
	_ plugin.NetworkFilterBuilder = (*Plugin)(nil)
	_ plugin.ClusterPatcher       = (*Plugin)(nil)
	_ plugin.ObjectValidator      = (*Plugin)(nil)
	_ plugin.Describer            = (*Plugin)(nil)
)

// New returns the Redis plugin.
func New() *Plugin { return &Plugin{} }

// Name implements plugin.Plugin.
func (*Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin.
func (*Plugin) Protocols() []model.Protocol { return []model.Protocol{model.ProtocolRedis} }

// Description implements plugin.Describer.
func (*Plugin) Description() string {
	return "Redis key-prefix routing, mirroring, faults and auth with redis_proxy; Redis Cluster and credentials on the upstream cluster"
}

// BuildRouteConfig implements plugin.RouteConfigBuilder: redis_proxy's
// prefix routes, kept apart so render and trace can show and follow them.
// A sidecar's inbound side is left at L4.
func (p *Plugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	if ctx.Role == plugin.RoleSidecarInbound {
		return nil, fmt.Errorf("a Redis server's sidecar proxies at L4: %w", plugin.ErrSkipPort)
	}
	warnShadowed(ctx)
	return prefixRoutes(ctx, serviceFor(ctx)), nil
}

// BuildNetworkFilters implements plugin.NetworkFilterBuilder.
func (p *Plugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	if ctx.Role == plugin.RoleSidecarInbound {
		return nil, fmt.Errorf("a Redis server's sidecar proxies at L4: %w", plugin.ErrSkipPort)
	}
	routes, ok := ctx.RouteConfig.(*redisproxyv3.RedisProxy_PrefixRoutes)
	if !ok {
		return nil, fmt.Errorf("redis_proxy needs redis_proxy prefix routes, got %T", ctx.RouteConfig)
	}
	rp, err := redisProxy(ctx, routes, serviceFor(ctx))
	if err != nil {
		return nil, err
	}
	return []*listenerv3.Filter{xds.NetworkFilter(FilterName, rp)}, nil
}

// serviceFor returns the oldest RedisService naming the host being built.
func serviceFor(ctx *plugin.BuildContext) *redisv1alpha1.RedisService {
	rss := RedisServices(ctx.Model, ctx.Service.Hostname)
	if len(rss) == 0 {
		return nil
	}
	return rss[0]
}

// warnShadowed reports RedisServices for the host that an older one shadows.
func warnShadowed(ctx *plugin.BuildContext) {
	rss := RedisServices(ctx.Model, ctx.Service.Hostname)
	for _, later := range rss[min(1, len(rss)):] {
		ctx.Warnf(serviceRef(later), "spec.host", conditions.ReasonUnsupportedValue,
			"ignored for %s: RedisService %s/%s is older and configures it", ctx.Service.Hostname, rss[0].Namespace, rss[0].Name)
	}
}
