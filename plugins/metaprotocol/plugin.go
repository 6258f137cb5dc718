package metaprotocol

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Name is the plugin's registered name.
const Name = "metaprotocol"

// OptionAerakiProxy is the option that programs Aeraki's meta-protocol
// proxy for codecs only it has.
const OptionAerakiProxy = "aeraki-proxy"

// Plugin builds user-defined protocols. Its only state is its options,
// set once before any build.
type Plugin struct {
	aerakiProxy bool
}

var (
	_ plugin.RouteConfigBuilder   = (*Plugin)(nil)
	_ plugin.NetworkFilterBuilder = (*Plugin)(nil)
	_ plugin.ObjectValidator      = (*Plugin)(nil)
	_ plugin.Configurable         = (*Plugin)(nil)
	_ plugin.Describer            = (*Plugin)(nil)
)

// Options configure the plugin when it is built into a binary.
type Options struct {
	// AerakiProxy programs Aeraki's meta-protocol proxy filter for codecs
	// stock Envoy lacks; only for proxies running that image.
	AerakiProxy bool
}

// New returns the plugin.
func New(opts Options) *Plugin { return &Plugin{aerakiProxy: opts.AerakiProxy} }

// Name implements plugin.Plugin.
func (*Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin: every meta-protocol no other plugin
// claims by name.
func (*Plugin) Protocols() []model.Protocol { return []model.Protocol{plugin.AnyMetaProtocol} }

// Description implements plugin.Describer.
func (p *Plugin) Description() string {
	out := "user-defined protocols from ApplicationProtocols: stock codecs (dubbo, http1) through generic_proxy"
	if p.aerakiProxy {
		out += ", others through Aeraki's meta-protocol proxy"
	}
	return out
}

// Configure implements plugin.Configurable. Keys: aeraki-proxy (true|false).
func (p *Plugin) Configure(opts map[string]string) error {
	p.aerakiProxy = false
	for k, v := range opts {
		switch k {
		case OptionAerakiProxy:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("option %s=%q: use true or false", k, v)
			}
			p.aerakiProxy = b
		default:
			known := []string{OptionAerakiProxy}
			sort.Strings(known)
			return fmt.Errorf("unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return nil
}

// BuildRouteConfig implements plugin.RouteConfigBuilder: a generic_proxy
// route table for stock codecs, the meta-protocol proxy's route table (as
// a Struct) for the others. A port whose codec cannot be carried is left
// at L4; ValidateObject reported why on the objects concerned.
func (p *Plugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	c, err := p.codec(ctx)
	if err != nil {
		return nil, err
	}
	routes := metaroute.Build(ctx)
	warnRateLimits(ctx)
	if c.stock != nil {
		return genericproxy.RouteConfig(ctx, ctx.StatPrefix(), routes, c.inputs), nil
	}
	return aerakiRouteConfig(ctx, ctx.StatPrefix(), routes)
}

// BuildNetworkFilters implements plugin.NetworkFilterBuilder.
func (p *Plugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	c, err := p.codec(ctx)
	if err != nil {
		return nil, err
	}
	switch rc := ctx.RouteConfig.(type) {
	case *genericv3.RouteConfiguration:
		return []*listenerv3.Filter{genericproxy.Filter(ctx.StatPrefix(), c.stock, rc)}, nil
	case *structpb.Struct:
		f, err := aerakiFilter(ctx, c, rc)
		if err != nil {
			return nil, err
		}
		return []*listenerv3.Filter{f}, nil
	}
	return nil, fmt.Errorf("unexpected route configuration %T", ctx.RouteConfig)
}

// codec returns the port's codec when the plugin can carry it, else
// ErrSkipPort (the port stays TCP; the reason is on the objects).
func (p *Plugin) codec(ctx *plugin.BuildContext) (codec, error) {
	c, ok := codecFor(ctx.Model, ctx.Port.Protocol)
	switch {
	case !ok:
		return codec{}, fmt.Errorf("no ApplicationProtocol gives protocol %q a codec: %w", ctx.Port.Protocol, plugin.ErrSkipPort)
	case c.stock == nil && !p.aerakiProxy:
		return codec{}, fmt.Errorf("codec %q needs Aeraki's meta-protocol proxy (option %s is off): %w", c.name, OptionAerakiProxy, plugin.ErrSkipPort)
	}
	return c, nil
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
