package thrift

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	ratelimitconfv3 "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	thriftratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/filters/ratelimit/v3"
	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// RateLimitFilterName is thrift_proxy's global rate limit filter.
const RateLimitFilterName = "envoy.filters.thrift.rate_limit"

// methodNameHeader is the pseudo header thrift_proxy's rate limit
// descriptors read the method name from.
const methodNameHeader = ":method-name"

// rateLimits is a MetaRouter's global rate limit in thrift_proxy terms:
// the calls it applies to, the descriptors routes send, and the filter.
type rateLimits struct {
	match   []metaroute.AttributeMatch
	actions []*routev3.RateLimit
	filter  *thriftv3.ThriftFilter
}

// globalRateLimit reads the first MetaRouter's globalRateLimit (later
// routers' are shadowed); nil when there is none or it cannot be carried.
// With report set, what is left out is reported on the MetaRouters.
func globalRateLimit(ctx *plugin.BuildContext, report bool) *rateLimits {
	warnf := func(ref model.ObjectRef, field, format string, args ...any) {
		if report {
			ctx.Warnf(ref, field, conditions.ReasonUnsupportedValue, format, args...)
		}
	}
	var out *rateLimits
	for _, mr := range ctx.MetaRouters {
		g := mr.Spec.GlobalRateLimit
		if g == nil {
			continue
		}
		ref := metaroute.RouterRef(mr)
		if out != nil {
			warnf(ref, "spec.globalRateLimit", "a Thrift port has one global rate limit; an older MetaRouter for %s already sets it", ctx.Service.Hostname)
			continue
		}
		var err error
		if out, err = buildRateLimits(ctx, g); err != nil {
			warnf(ref, "spec.globalRateLimit", "%v; calls are not rate limited", err)
			out = nil
			continue
		}
		for _, d := range g.Descriptors {
			if d.Property == AttrService {
				warnf(ref, "spec.globalRateLimit.descriptors", "thrift_proxy has no descriptor for the service name alone; use property method (it sends \"service:method\" for multiplexed calls)")
			}
		}
	}
	return out
}

func buildRateLimits(ctx *plugin.BuildContext, g *metaprotocolv1alpha1.GlobalRateLimit) (*rateLimits, error) {
	out := &rateLimits{}
	if g.Match != nil {
		out.match = metaroute.Attributes(g.Match.Attributes)
		if _, err := routeMatch(out.match); err != nil {
			return nil, fmt.Errorf("match: %w", err)
		}
	}
	action := &routev3.RateLimit{}
	for _, d := range g.Descriptors {
		header := d.Property
		switch d.Property {
		case AttrService:
			continue
		case AttrMethod:
			header = methodNameHeader
		}
		action.Actions = append(action.Actions, &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RequestHeaders_{
			RequestHeaders: &routev3.RateLimit_Action_RequestHeaders{HeaderName: header, DescriptorKey: d.DescriptorKey},
		}})
	}
	if len(action.Actions) == 0 {
		return nil, fmt.Errorf("no descriptor thrift_proxy can send")
	}
	out.actions = []*routev3.RateLimit{action}
	rl := &thriftratelimitv3.RateLimit{
		Domain:          g.Domain,
		FailureModeDeny: g.DenyOnFail,
		RateLimitService: &ratelimitconfv3.RateLimitServiceConfig{
			GrpcService:         &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: roleCluster(ctx, g.RateLimitService)}}},
			TransportApiVersion: corev3.ApiVersion_V3,
		},
	}
	if g.RequestTimeout != "" {
		d, err := g.RequestTimeout.Parse()
		if err != nil {
			return nil, fmt.Errorf("requestTimeout: %w", err)
		}
		rl.Timeout = durationpb.New(d)
	}
	out.filter = &thriftv3.ThriftFilter{Name: RateLimitFilterName, ConfigType: &thriftv3.ThriftFilter_TypedConfig{TypedConfig: xds.MustAny(rl)}}
	return out, nil
}

// roleCluster maps the rate limit service's cluster, written as Istio's
// outbound cluster name, to its name in the role being built.
func roleCluster(ctx *plugin.BuildContext, name string) string {
	parts := strings.SplitN(name, "|", 4)
	if len(parts) != 4 || parts[0] != "outbound" {
		return name
	}
	port, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return name
	}
	if ctx.Role == plugin.RoleSidecarInbound {
		return name // the local workload's cluster is not the rate limit service
	}
	return ctx.ClusterName(parts[3], uint32(port), parts[2])
}

// restrict is route ∧ the rate limit's match, or ok false when no call
// can match both. Two exact values of one attribute conflict; anything
// else is kept side by side (thrift_proxy requires every header matcher).
func (l *rateLimits) restrict(route []metaroute.AttributeMatch) ([]metaroute.AttributeMatch, bool) {
	out := append([]metaroute.AttributeMatch(nil), route...)
	for _, m := range l.match {
		merged := false
		for i, r := range out {
			if r.Name != m.Name {
				continue
			}
			if r.Kind == metaroute.MatchExact && m.Kind == metaroute.MatchExact && r.Value != m.Value {
				return nil, false
			}
			if r.Kind == metaroute.MatchPresent || (r.Kind == m.Kind && r.Value == m.Value) {
				out[i] = m
				merged = true
			} else if m.Kind == metaroute.MatchPresent {
				merged = true
			}
		}
		if !merged {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, true
}
