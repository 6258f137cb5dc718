package dubbo

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// DubboProxyFilterName is the network filter name of dubbo_proxy.
const DubboProxyFilterName = "envoy.filters.network.dubbo_proxy"

// How dubbo_proxy routes, read in Envoy's
// source/extensions/filters/network/dubbo_proxy/router/route_matcher.cc:
//
//   - MultiRouteMatcher tries its route tables (RouteConfiguration) in
//     order and takes the first route any of them matches: a table whose
//     interface matches but none of whose routes does passes the call on
//     to the next table;
//   - a table's interface is exact, "*" (any non-empty interface),
//     "*suffix" or "prefix*" (both strictly longer than the literal part);
//   - a route matches the method with a StringMatcher and the attachments
//     with HeaderMatchers (Http::HeaderUtility::matchHeaders, invert_match
//     included), and picks among weighted_clusters by weight.
//
// So routes keep their order when each route gets a table of its own,
// named "<route table>|<route>": dubbo_proxy routes have no names, and the
// table name is what config dumps and `aeraki trace` show.

// dubboProxyRoutes expresses routes for dubbo_proxy, in order.
func dubboProxyRoutes(ctx *plugin.BuildContext, name string, routes []metaroute.Route) *dubbov3.MultipleRouteConfiguration {
	out := &dubbov3.MultipleRouteConfiguration{Name: name}
	if len(routes) > 0 {
		out.RouteConfig = make([]*dubbov3.RouteConfiguration, 0, len(routes)) // a table per route unless one matches interfaces by prefix
	}
	for i := range routes {
		r := &routes[i]
		warnUnsupported(ctx, r)
		ifaces, rest, ok := interfaceTables(ctx, r)
		if !ok {
			continue
		}
		out.RouteConfig = appendTables(out.RouteConfig, name+"|"+r.Name, ifaces.list(), newTableRoute(rest, r)...)
	}
	return out
}

// tables are the route tables, one per interface pattern, holding routes;
// the first is named name, the others name|<pattern>.
func tables(name string, ifaces []string, routes ...*dubbov3.Route) []*dubbov3.RouteConfiguration {
	return appendTables(make([]*dubbov3.RouteConfiguration, 0, len(ifaces)), name, ifaces, routes...)
}

// appendTables appends tables' tables to out.
func appendTables(out []*dubbov3.RouteConfiguration, name string, ifaces []string, routes ...*dubbov3.Route) []*dubbov3.RouteConfiguration {
	for i, iface := range ifaces {
		n := name
		if i > 0 {
			n += "|" + iface
		}
		out = append(out, &dubbov3.RouteConfiguration{Name: n, Interface: iface, Routes: routes})
	}
	return out
}

// ifacePatterns are the (one or two) table interfaces of a route, held
// without a slice of their own.
type ifacePatterns struct {
	p [2]string
	n int
}

// list is the patterns as a slice, valid while ip is.
func (ip *ifacePatterns) list() []string { return ip.p[:ip.n] }

// interfaceTables are the table interfaces that express a route's
// interface condition, and its other conditions. dubbo_proxy's "prefix*"
// needs a longer interface than the prefix, so a prefix match also gets a
// table for the prefix itself; a regex on the interface cannot be carried.
func interfaceTables(ctx *plugin.BuildContext, r *metaroute.Route) (ifacePatterns, []metaroute.AttributeMatch, bool) {
	ifaces := ifacePatterns{p: [2]string{"*"}, n: 1}
	hasIface := false
	for i := range r.Match {
		hasIface = hasIface || r.Match[i].Name == AttrInterface
	}
	if !hasIface {
		return ifaces, r.Match, true // the other conditions are all of them
	}
	rest := make([]metaroute.AttributeMatch, 0, len(r.Match)-1)
	for _, m := range r.Match {
		if m.Name != AttrInterface {
			rest = append(rest, m)
			continue
		}
		switch m.Kind {
		case metaroute.MatchExact:
			ifaces = ifacePatterns{p: [2]string{m.Value}, n: 1}
		case metaroute.MatchPrefix:
			ifaces = ifacePatterns{p: [2]string{m.Value, m.Value + "*"}, n: 2}
		case metaroute.MatchPresent:
		default:
			if r.Object.Kind != "" {
				ctx.Report(modelError(r, fmt.Sprintf("dubbo_proxy matches interfaces exactly, by prefix or by suffix only; route %q with an interface %s match is skipped (generic_proxy, on a build that has it, carries regex matches)", r.Name, m.Kind)))
			}
			return ifacePatterns{}, nil, false
		}
	}
	if len(rest) == 0 {
		rest = nil
	}
	return ifaces, rest, true
}

// tableRoute is a table's one route and the messages it points to,
// allocated together: a generation builds one per route of every port.
type tableRoute struct {
	routes  [1]*dubbov3.Route
	route   dubbov3.Route
	match   dubbov3.RouteMatch
	method  dubbov3.MethodMatch
	action  dubbov3.RouteAction
	cluster dubbov3.RouteAction_Cluster
}

// newTableRoute is the dubbo_proxy route of r matching match (r's
// conditions but the interface), as the routes of a table.
func newTableRoute(match []metaroute.AttributeMatch, r *metaroute.Route) []*dubbov3.Route {
	t := &tableRoute{}
	t.match.Method = &t.method
	routeMatch(&t.match, match)
	if len(r.Destinations) == 1 {
		t.cluster.Cluster = r.Destinations[0].Cluster
		t.action.ClusterSpecifier = &t.cluster
	} else {
		t.action.ClusterSpecifier = &dubbov3.RouteAction_WeightedClusters{WeightedClusters: r.WeightedClusters()}
	}
	t.route.Match, t.route.Route = &t.match, &t.action
	t.routes[0] = &t.route
	return t.routes[:]
}

// routeMatch fills rm (whose Method is set) with match: the method's
// matcher, any method when none is given, and the attachments' headers.
func routeMatch(rm *dubbov3.RouteMatch, match []metaroute.AttributeMatch) {
	headers := 0
	for i := range match {
		if match[i].Name != AttrMethod {
			headers++
		}
	}
	if headers > 0 {
		rm.Headers = make([]*routev3.HeaderMatcher, 0, headers)
	}
	for _, m := range match {
		if m.Name == AttrMethod {
			rm.Method.Name = m.StringMatcher()
			continue
		}
		rm.Headers = append(rm.Headers, m.HeaderMatcher())
	}
	if rm.Method.Name == nil {
		rm.Method.Name = anyValue()
	}
}

// anyMatcher is anyValue's three messages, allocated together.
type anyMatcher struct {
	m     matcherv3.StringMatcher
	regex matcherv3.StringMatcher_SafeRegex
	re    matcherv3.RegexMatcher
}

// anyValue matches every method: dubbo_proxy requires a method matcher.
func anyValue() *matcherv3.StringMatcher {
	a := &anyMatcher{}
	a.re.Regex = ".*"
	a.regex.SafeRegex = &a.re
	a.m.MatchPattern = &a.regex
	return &a.m
}

func warnUnsupported(ctx *plugin.BuildContext, r *metaroute.Route) {
	metaroute.WarnUnsupported(ctx, r, "Envoy's dubbo_proxy", 0)
}

func dubboProxyFilter(ctx *plugin.BuildContext, rc proto.Message) (*listenerv3.Filter, error) {
	routes, ok := rc.(*dubbov3.MultipleRouteConfiguration)
	if !ok {
		return nil, fmt.Errorf("dubbo_proxy needs a dubbo_proxy route configuration, got %T", rc)
	}
	// The filter config and its route specifier are allocated together.
	p := &struct {
		proxy dubbov3.DubboProxy
		spec  dubbov3.DubboProxy_MultipleRouteConfig
	}{}
	p.spec.MultipleRouteConfig = routes
	p.proxy.StatPrefix = ctx.StatPrefix()
	p.proxy.ProtocolType = dubbov3.ProtocolType_Dubbo
	p.proxy.SerializationType = dubbov3.SerializationType_Hessian2
	p.proxy.RouteSpecifier = &p.spec
	return ctx.NetworkFilter(DubboProxyFilterName, &p.proxy), nil
}

func modelError(r *metaroute.Route, msg string) model.Diagnostic {
	return model.Diagnostic{Severity: model.SeverityError, Object: r.Object, Field: r.Field, Reason: conditions.ReasonUnsupportedValue, Message: msg}
}

// ProxyRoutes is dubbo_proxy's route table for routes, in order, for
// plugins that carry Dubbo on other ports (the metaprotocol plugin's
// ApplicationProtocols with the Dubbo codec). What dubbo_proxy cannot
// carry is reported through ctx.
func ProxyRoutes(ctx *plugin.BuildContext, name string, routes []metaroute.Route) *dubbov3.MultipleRouteConfiguration {
	return dubboProxyRoutes(ctx, name, routes)
}

// ProxyFilter is the dubbo_proxy network filter carrying routes.
func ProxyFilter(ctx *plugin.BuildContext, routes *dubbov3.MultipleRouteConfiguration) *listenerv3.Filter {
	f, _ := dubboProxyFilter(ctx, routes)
	return f
}
