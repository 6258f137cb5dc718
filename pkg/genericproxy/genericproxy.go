package genericproxy

import (
	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	actionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/action/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/matcher/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/router/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// FilterName is the network filter name of generic_proxy.
const FilterName = "envoy.filters.network.generic_proxy"

// Names of the request inputs in generated matchers. Envoy selects inputs
// by type; the names only make config dumps readable.
const (
	InputHost     = "host"
	InputPath     = "path"
	InputMethod   = "method"
	InputProperty = "property"
	RouteAction   = "route"
)

// Inputs says which MetaRouter attribute names a codec exposes through
// generic_proxy's dedicated request inputs. Attributes not named here are
// matched as properties (for Dubbo: attachments).
type Inputs struct {
	// Host is the attribute matched with HostMatchInput ("interface" for Dubbo).
	Host string
	// Path is the attribute matched with PathMatchInput.
	Path string
	// Method is the attribute matched with MethodMatchInput ("method").
	Method string
}

// RouteConfig expresses routes as a generic_proxy route table: a matcher
// list tried in order, with the first route that matches every call as
// on_no_match. Features generic_proxy cannot carry are reported on the
// route's object through ctx. Routes must not split calls by weight
// (Weighted); the caller chooses another filter for those or leaves them
// out with an error.
func RouteConfig(ctx *plugin.BuildContext, name string, routes []metaroute.Route, in Inputs) *genericv3.RouteConfiguration {
	m := &xdsmatcher.Matcher{}
	var list []*xdsmatcher.Matcher_MatcherList_FieldMatcher
	for i := range routes {
		r := &routes[i]
		reportUnsupported(ctx, r)
		if r.CatchAll() {
			m.OnNoMatch = onMatch(ctx, r)
			for _, later := range routes[i+1:] {
				if later.Object.Kind != "" {
					ctx.Warnf(later.Object, later.Field, conditions.ReasonInvalidRoute, "route %q is never used: route %q before it matches every call", later.Name, r.Name)
				}
			}
			break
		}
		list = append(list, &xdsmatcher.Matcher_MatcherList_FieldMatcher{
			Predicate: predicate(r.Match, in),
			OnMatch:   onMatch(ctx, r),
		})
	}
	if len(list) > 0 {
		m.MatcherType = &xdsmatcher.Matcher_MatcherList_{MatcherList: &xdsmatcher.Matcher_MatcherList{Matchers: list}}
	}
	return &genericv3.RouteConfiguration{Name: name, Routes: m}
}

// Filter builds the generic_proxy network filter with a codec and an
// inline route table, ending in generic_proxy's router.
func Filter(statPrefix string, codec *corev3.TypedExtensionConfig, routes *genericv3.RouteConfiguration) *listenerv3.Filter {
	gp := &genericv3.GenericProxy{
		StatPrefix:     statPrefix,
		CodecConfig:    codec,
		RouteSpecifier: &genericv3.GenericProxy_RouteConfig{RouteConfig: routes},
		Filters:        []*corev3.TypedExtensionConfig{xds.TypedConfig("envoy.filters.generic.router", &routerv3.Router{})},
	}
	return xds.NetworkFilter(FilterName, gp)
}

func onMatch(ctx *plugin.BuildContext, r *metaroute.Route) *xdsmatcher.Matcher_OnMatch {
	return &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{Action: xds.MatcherConfig(RouteAction, Action(r))}}
}

// Action builds generic_proxy's RouteAction for a route: its cluster,
// timeout and retries.
//
// A split route becomes weighted_clusters, which Envoy's generic_proxy
// does not implement ([#not-implemented-hide:] in
// generic_proxy/action/v3/action.proto; RouteEntryImpl reads
// route_action.cluster() alone, in
// source/extensions/filters/network/generic_proxy/route_impl.cc): the
// fidelity gate refuses it, so a plugin must not hand one over (see
// Weighted) and a mistake is loud rather than a silent misroute.
//
// The timeout is always set, to the route's or to 0s: without one Envoy
// applies DEFAULT_ROUTE_TIMEOUT_MS (15 s, route_impl.cc), where the
// tcp_proxy the filter replaces had none; 0 means no timeout (the router
// arms its timer only for a positive timeout, router/router.cc).
func Action(r *metaroute.Route) *actionv3.RouteAction {
	a := &actionv3.RouteAction{Name: r.Name, Timeout: durationpb.New(r.Timeout)}
	if len(r.Destinations) == 1 {
		a.ClusterSpecifier = &actionv3.RouteAction_Cluster{Cluster: r.Destinations[0].Cluster}
	} else {
		a.ClusterSpecifier = &actionv3.RouteAction_WeightedClusters{WeightedClusters: r.WeightedClusters()}
	}
	if r.Retries != nil && r.Retries.Attempts > 0 {
		// generic_proxy counts tries, not retries: num_retries 1 is a single try.
		a.RetryPolicy = &corev3.RetryPolicy{NumRetries: wrapperspb.UInt32(r.Retries.Attempts + 1)}
	}
	return a
}

func predicate(match []metaroute.AttributeMatch, in Inputs) *xdsmatcher.Matcher_MatcherList_Predicate {
	preds := make([]*xdsmatcher.Matcher_MatcherList_Predicate, 0, len(match))
	for _, am := range match {
		preds = append(preds, &xdsmatcher.Matcher_MatcherList_Predicate{
			MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_{SinglePredicate: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate{
				Input:   input(am.Name, in),
				Matcher: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: StringMatcher(am)},
			}},
		})
	}
	if len(preds) == 1 {
		return preds[0]
	}
	return &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_AndMatcher{
		AndMatcher: &xdsmatcher.Matcher_MatcherList_Predicate_PredicateList{Predicate: preds},
	}}
}

func input(attr string, in Inputs) *xdscore.TypedExtensionConfig {
	var m proto.Message
	name := InputProperty
	switch {
	case in.Host != "" && attr == in.Host:
		m, name = &matcherv3.HostMatchInput{}, InputHost
	case in.Path != "" && attr == in.Path:
		m, name = &matcherv3.PathMatchInput{}, InputPath
	case in.Method != "" && attr == in.Method:
		m, name = &matcherv3.MethodMatchInput{}, InputMethod
	default:
		m = &matcherv3.PropertyMatchInput{PropertyName: attr}
	}
	return xds.MatcherConfig(name, m)
}

// StringMatcher converts an attribute match into xDS's StringMatcher. A
// presence match is the regex ".*": Envoy's matchers fail on an absent
// input before they look at the pattern.
func StringMatcher(am metaroute.AttributeMatch) *xdsmatcher.StringMatcher {
	switch am.Kind {
	case metaroute.MatchExact:
		return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_Exact{Exact: am.Value}}
	case metaroute.MatchPrefix:
		return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_Prefix{Prefix: am.Value}}
	case metaroute.MatchRegex:
		return regex(am.Value)
	default:
		return regex(".*")
	}
}

func regex(re string) *xdsmatcher.StringMatcher {
	return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_SafeRegex{SafeRegex: &xdsmatcher.RegexMatcher{
		EngineType: &xdsmatcher.RegexMatcher_GoogleRe2{GoogleRe2: &xdsmatcher.RegexMatcher_GoogleRE2{}},
		Regex:      re,
	}}}
}

// Weighted returns the first route that splits calls by weight, which
// generic_proxy cannot carry, or nil.
func Weighted(routes []metaroute.Route) *metaroute.Route {
	for i := range routes {
		if routes[i].Weighted() {
			return &routes[i]
		}
	}
	return nil
}

func reportUnsupported(ctx *plugin.BuildContext, r *metaroute.Route) {
	metaroute.WarnUnsupported(ctx, r, "Envoy's generic_proxy", metaroute.FeatureTimeout|metaroute.FeatureRetries)
}

// DubboCodecName is the Envoy name of generic_proxy's Dubbo codec.
const DubboCodecName = "envoy.generic_proxy.codecs.dubbo"

// DubboInputs maps MetaRouter attributes onto generic_proxy's Dubbo codec:
// the service interface is the request's host, the method its method. The
// dubbo plugin and the meta-protocol plugin's Dubbo codec both route with
// it; it is a function so no caller can change what the other sees.
func DubboInputs() Inputs { return Inputs{Host: "interface", Method: "method"} }
