package thrift

import (
	"fmt"
	"math"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Attribute names with a dedicated meaning for Thrift calls.
const (
	// AttrMethod is the Thrift method name.
	AttrMethod = "method"
	// AttrService is the service name of a multiplexed call.
	AttrService = "service"
)

// routeTable expresses routes as thrift_proxy's route table: routes in
// order, first match wins. A route whose match thrift_proxy cannot express
// is reported and skipped rather than widened; routes after one that
// matches every call are reported as unreachable.
func routeTable(ctx *plugin.BuildContext, name string, routes []metaroute.Route, f framing, limits *rateLimits) *thriftv3.RouteConfiguration {
	rc := &thriftv3.RouteConfiguration{Name: name, ValidateClusters: wrapperspb.Bool(false)}
	for i := range routes {
		r := &routes[i]
		warnUnsupported(ctx, r, f)
		match, err := routeMatch(r.Match)
		if err != nil {
			if r.Object.Kind != "" {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: r.Object, Field: r.Field + ".match", Reason: conditions.ReasonUnsupportedValue,
					Message: fmt.Sprintf("%v; route %q is skipped rather than widened", err, r.Name)})
			}
			continue
		}
		action := routeAction(r)
		switch {
		case limits == nil:
		case len(limits.match) == 0:
			action.RateLimits = limits.actions
		default:
			// The rate limit applies to the calls it matches: a copy of the
			// route restricted to them, carrying the descriptors, goes first.
			if limited, ok := limits.restrict(r.Match); ok {
				if lm, err := routeMatch(limited); err == nil {
					la := routeAction(r)
					la.RateLimits = limits.actions
					rc.Routes = append(rc.Routes, &thriftv3.Route{Match: lm, Route: la})
				}
			}
		}
		rc.Routes = append(rc.Routes, &thriftv3.Route{Match: match, Route: action})
		if r.CatchAll() {
			for _, later := range routes[i+1:] {
				if later.Object.Kind != "" {
					ctx.Warnf(later.Object, later.Field, conditions.ReasonInvalidRoute, "route %q is never used: route %q before it matches every call", later.Name, r.Name)
				}
			}
			break
		}
	}
	return rc
}

// routeMatch turns attribute matches into a thrift_proxy RouteMatch:
// method and service select the method name, other attributes are headers.
func routeMatch(match []metaroute.AttributeMatch) (*thriftv3.RouteMatch, error) {
	var method, service string
	rm := &thriftv3.RouteMatch{}
	for _, m := range match {
		switch m.Name {
		case AttrMethod, AttrService:
			switch m.Kind {
			case metaroute.MatchPresent:
				continue // every Thrift call has a method (and, multiplexed, a service)
			case metaroute.MatchExact:
			default:
				return nil, fmt.Errorf("thrift_proxy matches %q exactly only, not by %s", m.Name, m.Kind)
			}
			if m.Name == AttrMethod {
				method = m.Value
			} else {
				service = m.Value
			}
		default:
			rm.Headers = append(rm.Headers, m.HeaderMatcher())
		}
	}
	switch {
	case service != "" && method != "":
		rm.MatchSpecifier = &thriftv3.RouteMatch_MethodName{MethodName: service + ":" + method}
	case service != "":
		rm.MatchSpecifier = &thriftv3.RouteMatch_ServiceName{ServiceName: service}
	default:
		// An empty method name matches every call.
		rm.MatchSpecifier = &thriftv3.RouteMatch_MethodName{MethodName: method}
	}
	return rm, nil
}

// routeAction sends the route's calls to its cluster or weighted clusters
// (destinations weighted 0 are left out: thrift_proxy needs weights of at
// least 1), with its mirror.
func routeAction(r *metaroute.Route) *thriftv3.RouteAction {
	a := &thriftv3.RouteAction{}
	var weighted []*thriftv3.WeightedCluster_ClusterWeight
	for _, d := range r.Destinations {
		if len(r.Destinations) > 1 && d.Weight == 0 {
			continue
		}
		weighted = append(weighted, &thriftv3.WeightedCluster_ClusterWeight{Name: d.Cluster, Weight: wrapperspb.UInt32(d.Weight)})
	}
	if len(weighted) == 1 {
		a.ClusterSpecifier = &thriftv3.RouteAction_Cluster{Cluster: weighted[0].Name}
	} else {
		a.ClusterSpecifier = &thriftv3.RouteAction_WeightedClusters{WeightedClusters: &thriftv3.WeightedCluster{Clusters: weighted}}
	}
	if m := r.Mirror; m != nil {
		a.RequestMirrorPolicies = []*thriftv3.RouteAction_RequestMirrorPolicy{{
			Cluster:         m.Cluster,
			RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: percent(m.Percent)},
		}}
	}
	return a
}

// percent converts 0..100 into a FractionalPercent with a precision of a
// ten-thousandth of a percent.
func percent(p float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: uint32(math.Round(p * 10000)), Denominator: typev3.FractionalPercent_MILLION}
}

// warnUnsupported reports the parts of a route thrift_proxy cannot carry.
func warnUnsupported(ctx *plugin.BuildContext, r *metaroute.Route, f framing) {
	if r.Object.Kind == "" {
		return
	}
	metaroute.WarnUnsupported(ctx, r, "Envoy's thrift_proxy", metaroute.FeatureMirror)
	if f.carriesHeaders() {
		return
	}
	for _, m := range r.Match {
		if m.Name != AttrMethod && m.Name != AttrService {
			ctx.Warnf(r.Object, r.Field+".match.attributes."+m.Name, conditions.ReasonUnsupportedValue,
				"%q is matched as a Thrift header, but port %s uses %s, which carries no headers: route %q never matches (use the header transport or the twitter protocol, or match method and service)",
				m.Name, ctx.Port, f, r.Name)
		}
	}
}
