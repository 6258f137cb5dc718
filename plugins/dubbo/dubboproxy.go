package dubbo

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// DubboProxyFilterName is the network filter name of dubbo_proxy.
const DubboProxyFilterName = "envoy.filters.network.dubbo_proxy"

// dubboProxyRoutes expresses routes for dubbo_proxy. dubbo_proxy picks a
// route table by interface first and then tries its routes in order, so
// every interface named by an exact "interface" match gets a table holding,
// in the original order, its own routes and the routes that do not look at
// the interface; a final "*" table holds the latter alone.
func dubboProxyRoutes(ctx *plugin.BuildContext, name string, routes []metaroute.Route) *dubbov3.MultipleRouteConfiguration {
	type table struct {
		iface  string
		routes []*dubbov3.Route
	}
	var tables []*table
	byIface := map[string]*table{}
	wildcard := &table{iface: "*"}
	for i := range routes {
		r := &routes[i]
		warnUnsupported(ctx, r)
		iface, rest, ok := splitInterface(ctx, r)
		if !ok {
			continue
		}
		dr := &dubbov3.Route{Match: routeMatch(rest), Route: routeAction(r)}
		if iface == "" {
			for _, t := range tables {
				t.routes = append(t.routes, dr)
			}
			wildcard.routes = append(wildcard.routes, dr)
			continue
		}
		t := byIface[iface]
		if t == nil {
			t = &table{iface: iface, routes: append([]*dubbov3.Route(nil), wildcard.routes...)}
			byIface[iface] = t
			tables = append(tables, t)
		}
		t.routes = append(t.routes, dr)
	}
	out := &dubbov3.MultipleRouteConfiguration{Name: name}
	for _, t := range append(tables, wildcard) {
		if len(t.routes) == 0 {
			continue
		}
		out.RouteConfig = append(out.RouteConfig, &dubbov3.RouteConfiguration{Name: name + "|" + t.iface, Interface: t.iface, Routes: t.routes})
	}
	return out
}

// splitInterface separates an exact interface match from the other
// conditions; dubbo_proxy cannot match interfaces by prefix or regex.
func splitInterface(ctx *plugin.BuildContext, r *metaroute.Route) (string, []metaroute.AttributeMatch, bool) {
	var iface string
	var rest []metaroute.AttributeMatch
	for _, m := range r.Match {
		if m.Name != AttrInterface {
			rest = append(rest, m)
			continue
		}
		if m.Kind != metaroute.MatchExact && m.Kind != metaroute.MatchPresent {
			if r.Object.Kind != "" {
				ctx.Report(modelError(r, fmt.Sprintf("dubbo_proxy matches interfaces exactly only; route %q with an interface %s match is skipped (use the generic_proxy filter)", r.Name, m.Kind)))
			}
			return "", nil, false
		}
		if m.Kind == metaroute.MatchExact {
			iface = m.Value
		}
	}
	return iface, rest, true
}

func routeMatch(match []metaroute.AttributeMatch) *dubbov3.RouteMatch {
	rm := &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}}}}
	for _, m := range match {
		if m.Name == AttrMethod {
			rm.Method.Name = m.StringMatcher()
			continue
		}
		rm.Headers = append(rm.Headers, m.HeaderMatcher())
	}
	return rm
}

func routeAction(r *metaroute.Route) *dubbov3.RouteAction {
	if len(r.Destinations) == 1 {
		return &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_Cluster{Cluster: r.Destinations[0].Cluster}}
	}
	return &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_WeightedClusters{WeightedClusters: r.WeightedClusters()}}
}

func warnUnsupported(ctx *plugin.BuildContext, r *metaroute.Route) {
	metaroute.WarnUnsupported(ctx, r, "Envoy's dubbo_proxy", 0)
}

func dubboProxyFilter(ctx *plugin.BuildContext, rc proto.Message) (*listenerv3.Filter, error) {
	routes, ok := rc.(*dubbov3.MultipleRouteConfiguration)
	if !ok {
		return nil, fmt.Errorf("dubbo_proxy needs a dubbo_proxy route configuration, got %T", rc)
	}
	return xds.NetworkFilter(DubboProxyFilterName, &dubbov3.DubboProxy{
		StatPrefix:        ctx.StatPrefix(),
		ProtocolType:      dubbov3.ProtocolType_Dubbo,
		SerializationType: dubbov3.SerializationType_Hessian2,
		RouteSpecifier:    &dubbov3.DubboProxy_MultipleRouteConfig{MultipleRouteConfig: routes},
	}), nil
}

func modelError(r *metaroute.Route, msg string) model.Diagnostic {
	return model.Diagnostic{Severity: model.SeverityError, Object: r.Object, Field: r.Field, Reason: conditions.ReasonUnsupportedValue, Message: msg}
}
