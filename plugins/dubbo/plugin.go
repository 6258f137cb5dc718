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
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Name is the plugin's registered name.
const Name = "dubbo"

// Filter choices for the "filter" option.
const (
	// FilterAuto picks by the proxy build (the default): generic_proxy with
	// the Dubbo codec where the build has it and no route splits calls by
	// weight, else dubbo_proxy.
	FilterAuto = "auto"
	// FilterGenericProxy is always generic_proxy with the Dubbo codec, for
	// builds known to have it. On a build without it the port is refused
	// by the fidelity gate.
	FilterGenericProxy = "generic_proxy"
	// FilterDubboProxy is always Envoy's dubbo_proxy filter.
	FilterDubboProxy = "dubbo_proxy"
)

// Envoy names of generic_proxy's Dubbo codec and of the router, which a
// build must have for the plugin to choose generic_proxy.
const (
	CodecName  = genericproxy.DubboCodecName
	RouterName = "envoy.filters.generic.router"
)

// Attribute names with a dedicated meaning for Dubbo calls.
const (
	AttrInterface = "interface"
	AttrMethod    = "method"
)

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
	// Filter is FilterAuto (default), FilterGenericProxy or FilterDubboProxy.
	Filter string
}

// New returns the Dubbo plugin. Options are its configuration; the
// command line (Configure) can override them key by key.
func New(opts Options) (*Plugin, error) {
	f, err := parseFilter(opts.Filter)
	if err != nil {
		return nil, err
	}
	return &Plugin{filter: f}, nil
}

func parseFilter(v string) (string, error) {
	switch v {
	case "", FilterAuto:
		return FilterAuto, nil
	case FilterGenericProxy, FilterDubboProxy:
		return v, nil
	}
	return "", fmt.Errorf("option filter=%q: use %s, %s or %s", v, FilterAuto, FilterGenericProxy, FilterDubboProxy)
}

// Name implements plugin.Plugin.
func (p *Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin.
func (p *Plugin) Protocols() []model.Protocol { return []model.Protocol{model.ProtocolDubbo} }

// Description implements plugin.Describer.
func (p *Plugin) Description() string {
	if p.filter == FilterAuto {
		return "Dubbo routing by interface, method and attachments (dubbo_proxy on istio-proxy, generic_proxy where the build has it)"
	}
	return fmt.Sprintf("Dubbo routing by interface, method and attachments (filter %s)", p.filter)
}

// Configure implements plugin.Configurable. Keys: filter (auto |
// generic_proxy | dubbo_proxy), the command-line form of Options.Filter;
// a key not given keeps the value New was given.
func (p *Plugin) Configure(opts map[string]string) error {
	for k, v := range opts {
		switch k {
		case "filter":
			f, err := parseFilter(v)
			if err != nil {
				return err
			}
			p.filter = f
		default:
			known := []string{"filter"}
			sort.Strings(known)
			return fmt.Errorf("unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return nil
}

// HasGenericProxy reports whether a build can run generic_proxy with the
// Dubbo codec and its router.
func HasGenericProxy(p *profile.Profile) bool {
	return p.Has(genericproxy.FilterName) && p.Has(CodecName) && p.Has(RouterName)
}

// chooseFilter picks the filter for a build and routes. Envoy's
// generic_proxy ignores weighted_clusters ([#not-implemented-hide:] in
// generic_proxy/action/v3/action.proto; RouteEntryImpl reads only
// route_action.cluster(), source/extensions/filters/network/generic_proxy/route_impl.cc),
// so a port with a weighted route is built with dubbo_proxy, whose
// RouteEntryImplBase picks among weighted_clusters
// (source/extensions/filters/network/dubbo_proxy/router/route_matcher.cc),
// and the route's MetaRouter gets a note saying so.
func (p *Plugin) chooseFilter(ctx *plugin.BuildContext, routes []metaroute.Route) (string, error) {
	switch p.filter {
	case FilterGenericProxy, FilterDubboProxy:
		return p.filter, nil
	}
	gp, dp := HasGenericProxy(ctx.Profile), ctx.Profile.Has(DubboProxyFilterName)
	if gp {
		weighted := genericproxy.Weighted(routes)
		if weighted == nil || !dp {
			return FilterGenericProxy, nil // generic_proxy refuses a weighted route below
		}
		if weighted.Object.Kind != "" {
			ctx.Report(model.Diagnostic{Severity: model.SeverityInfo, Object: weighted.Object, Field: weighted.Field, Reason: "DubboProxyForWeights",
				Message: fmt.Sprintf("route %q splits calls by weight, which generic_proxy does not implement; port %s of %s is built with dubbo_proxy for %s (proxy build %s)",
					weighted.Name, ctx.Port, ctx.Service.Hostname, ctx.Role, ctx.Profile.Name)})
		}
		return FilterDubboProxy, nil
	}
	if dp {
		return FilterDubboProxy, nil
	}
	return "", fmt.Errorf("proxy build %s has neither generic_proxy with the Dubbo codec nor dubbo_proxy, so Dubbo cannot be routed on it; select the profile of the build the proxies run", ctx.Profile.Name)
}

// BuildRouteConfig implements plugin.RouteConfigBuilder.
func (p *Plugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	routes := metaroute.ForPort(ctx)
	name := ctx.StatPrefix()
	filter, err := p.chooseFilter(ctx, routes)
	if err != nil {
		return nil, err
	}
	if filter == FilterDubboProxy {
		return p.authorize(ctx, dubboProxyRoutes(ctx, name, routes))
	}
	if w := genericproxy.Weighted(routes); w != nil {
		return nil, plugin.Errorf(Name, w.Object, "WeightsNotImplemented",
			"%s: route %q splits calls by weight, which Envoy's generic_proxy does not implement (every call would end in cluster_not_found), and the filter option is generic_proxy; use filter=auto (dubbo_proxy for such ports) or a single destination", w.Field, w.Name)
	}
	return p.authorize(ctx, genericproxy.RouteConfig(ctx, name, routes, genericproxy.DubboInputs()))
}

// BuildNetworkFilters implements plugin.NetworkFilterBuilder.
func (p *Plugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	switch rc := ctx.RouteConfig.(type) {
	case *genericv3.RouteConfiguration:
		codec := xds.TypedConfig(CodecName, &dubbocodecv3.DubboCodecConfig{})
		return withAuthz(ctx, []*listenerv3.Filter{genericproxy.Filter(ctx.StatPrefix(), codec, rc)}), nil
	default:
		f, err := dubboProxyFilter(ctx, ctx.RouteConfig)
		if err != nil {
			return nil, err
		}
		return withAuthz(ctx, []*listenerv3.Filter{f}), nil
	}
}
