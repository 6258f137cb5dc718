package dubbo

import (
	"fmt"
	"sort"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbocodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/dubbo/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Name is the plugin's registered name.
const Name = "dubbo"

// Filter choices for the "filter" option.
const (
	// FilterGenericProxy is generic_proxy with the Dubbo codec, the default.
	FilterGenericProxy = "generic_proxy"
	// FilterDubboProxy is Envoy's dubbo_proxy filter.
	FilterDubboProxy = "dubbo_proxy"
)

// Attribute names with a dedicated meaning for Dubbo calls.
const (
	AttrInterface = "interface"
	AttrMethod    = "method"
)

// Inputs maps MetaRouter attributes onto the Dubbo codec of generic_proxy.
var Inputs = genericproxy.Inputs{Host: AttrInterface, Method: AttrMethod}

// Plugin builds Dubbo filters. The zero value is not usable; call New.
type Plugin struct {
	filter string
}

var (
	_ plugin.RouteConfigBuilder   = (*Plugin)(nil)
	_ plugin.NetworkFilterBuilder = (*Plugin)(nil)
	_ plugin.Configurable         = (*Plugin)(nil)
)

// Options configure the plugin when it is built into a binary.
type Options struct {
	// Filter is FilterGenericProxy (default) or FilterDubboProxy.
	Filter string
}

// New returns the Dubbo plugin.
func New(opts Options) (*Plugin, error) {
	p := &Plugin{}
	if err := p.Configure(map[string]string{"filter": opts.Filter}); err != nil {
		return nil, err
	}
	return p, nil
}

// Name implements plugin.Plugin.
func (p *Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin.
func (p *Plugin) Protocols() []model.Protocol { return []model.Protocol{model.ProtocolDubbo} }

// Description implements plugin.Describer.
func (p *Plugin) Description() string {
	return fmt.Sprintf("Dubbo routing by interface, method and attachments (filter %s)", p.filter)
}

// Configure implements plugin.Configurable. Keys: filter (generic_proxy | dubbo_proxy).
func (p *Plugin) Configure(opts map[string]string) error {
	p.filter = FilterGenericProxy
	for k, v := range opts {
		switch k {
		case "filter":
			switch v {
			case "", FilterGenericProxy:
				p.filter = FilterGenericProxy
			case FilterDubboProxy:
				p.filter = FilterDubboProxy
			default:
				return fmt.Errorf("option filter=%q: use %s or %s", v, FilterGenericProxy, FilterDubboProxy)
			}
		default:
			known := []string{"filter"}
			sort.Strings(known)
			return fmt.Errorf("unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return nil
}

// BuildRouteConfig implements plugin.RouteConfigBuilder.
func (p *Plugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	routes := metaroute.ForPort(ctx)
	name := ctx.StatPrefix()
	if p.filter == FilterDubboProxy {
		return p.authorize(ctx, dubboProxyRoutes(ctx, name, routes))
	}
	return p.authorize(ctx, genericproxy.RouteConfig(ctx, name, routes, Inputs))
}

// BuildNetworkFilters implements plugin.NetworkFilterBuilder.
func (p *Plugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	switch rc := ctx.RouteConfig.(type) {
	case *genericv3.RouteConfiguration:
		codec := xds.TypedConfig("envoy.generic_proxy.codecs.dubbo", &dubbocodecv3.DubboCodecConfig{})
		return withAuthz(ctx, []*listenerv3.Filter{genericproxy.Filter(ctx.StatPrefix(), codec, rc)}), nil
	default:
		f, err := dubboProxyFilter(ctx, ctx.RouteConfig)
		if err != nil {
			return nil, err
		}
		return withAuthz(ctx, []*listenerv3.Filter{f}), nil
	}
}
