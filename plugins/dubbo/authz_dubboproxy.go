package dubbo

import (
	"strings"

	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// The call-level part of DubboAuthorizationPolicies on dubbo_proxy. Its
// tables are tried in order and fall through when no route of a table
// matches (see dubboproxy.go), so:
//
//   - every denied operation becomes a table at the head, its interface
//     pattern with one route per method pattern to plugin.ClusterBlackHole;
//   - on a sidecar's inbound side, where every call has the one
//     destination of the local workload, an ALLOW list of operations
//     becomes the tables that route them there, followed by a "*" table
//     sending every other call to the black hole.
//
// Negated lists (notInterfaces, notMethods) cannot be written as tables
// that match (RE2 has no negation, and a table cannot skip the rest), and
// neither can an ALLOW list in a waypoint, whose routes pick destinations
// the allow tables would have to repeat. Those fail the port closed, with
// an error on the policy: never over-allow.

// authorizeDubboProxy adds plan's call-level part to routes, or explains
// why it cannot.
func authorizeDubboProxy(ctx *plugin.BuildContext, plan *authzPlan, routes *dubbov3.MultipleRouteConfiguration) error {
	var head []*dubbov3.RouteConfiguration
	for _, r := range plan.reqDeny {
		for _, op := range r.to {
			if len(op.NotInterfaces) > 0 || len(op.NotMethods) > 0 {
				return plugin.Errorf(Name, r.policy, "UnsupportedByDubboProxy",
					"a rule with notInterfaces or notMethods cannot be enforced by dubbo_proxy (its routes cannot negate a match); the port refuses calls until the rule lists interfaces and methods, or the proxy build has generic_proxy (%s)", ctx.Profile.Name)
			}
			head = append(head, opTables(routes.GetName()+"|"+DeniedRoutePrefix+r.policy.String(), op, plugin.ClusterBlackHole)...)
		}
	}
	var tail []*dubbov3.RouteConfiguration
	if plan.allowOps {
		ref := plan.allowRefs[0]
		if ctx.Role != plugin.RoleSidecarInbound {
			return plugin.Errorf(Name, ref, "UnsupportedByDubboProxy",
				"allows only some Dubbo operations, which this waypoint's dubbo_proxy cannot enforce alongside routes that pick destinations (it is built with dubbo_proxy because a route splits calls by weight, which generic_proxy does not implement); the port refuses calls until the policy or the split changes")
		}
		dest := inboundCluster(routes)
		var refs []string
		for _, r := range plan.allowRefs {
			refs = append(refs, r.String())
		}
		allowed := strings.Join(refs, ", ")
		for _, op := range plan.reqAllow {
			if len(op.NotInterfaces) > 0 || len(op.NotMethods) > 0 {
				return plugin.Errorf(Name, ref, "UnsupportedByDubboProxy",
					"an ALLOW operation with notInterfaces or notMethods cannot be enforced by dubbo_proxy (its routes cannot negate a match); the port refuses calls until the rule lists interfaces and methods, or the proxy build has generic_proxy (%s)", ctx.Profile.Name)
			}
			tail = append(tail, opTables(routes.GetName()+"|allowed by "+allowed, op, dest)...)
		}
		tail = append(tail, &dubbov3.RouteConfiguration{Name: routes.GetName() + "|" + DeniedRoutePrefix + "no ALLOW rule of " + allowed, Interface: "*", Routes: []*dubbov3.Route{{
			Match: &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: anyValue()}},
			Route: &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_Cluster{Cluster: plugin.ClusterBlackHole}},
		}}})
		routes.RouteConfig = nil // the allow tables route every allowed call
	}
	routes.RouteConfig = append(append(head, routes.RouteConfig...), tail...)
	return nil
}

// inboundCluster is where a sidecar's inbound routes send calls: the
// local workload.
func inboundCluster(routes *dubbov3.MultipleRouteConfiguration) string {
	for _, t := range routes.GetRouteConfig() {
		for _, r := range t.GetRoutes() {
			if c := r.GetRoute().GetCluster(); c != "" {
				return c
			}
		}
	}
	return plugin.ClusterBlackHole
}

// opTables are the tables matching one operation (interfaces ORed,
// methods ORed, the two ANDed), each route sending to cluster.
func opTables(name string, op authzOperation, cluster string) []*dubbov3.RouteConfiguration {
	ifaces := op.Interfaces
	if len(ifaces) == 0 {
		ifaces = []string{"*"}
	}
	var methods []*matcherv3.StringMatcher
	for _, m := range op.Methods {
		methods = append(methods, methodMatcher(m))
	}
	if len(methods) == 0 {
		methods = []*matcherv3.StringMatcher{anyValue()}
	}
	var routes []*dubbov3.Route
	for _, m := range methods {
		routes = append(routes, &dubbov3.Route{
			Match: &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: m}},
			Route: &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_Cluster{Cluster: cluster}},
		})
	}
	return tables(name, interfacePatterns(ifaces), routes...)
}

// interfacePatterns writes policy values as dubbo_proxy interfaces. A
// policy's "abc*" and "*abc" match "abc" too, which dubbo_proxy's
// patterns (strictly longer) do not: the literal gets a table of its own.
func interfacePatterns(values []string) []string {
	var out []string
	for _, v := range values {
		switch {
		case v == "*":
			out = append(out, "*")
		case len(v) > 1 && v[0] == '*':
			out = append(out, v[1:], v)
		case len(v) > 1 && v[len(v)-1] == '*':
			out = append(out, v[:len(v)-1], v)
		default:
			out = append(out, v)
		}
	}
	return out
}

// methodMatcher reads a policy value as Envoy's StringMatcher, the way
// valueMatcher does for generic_proxy: "abc" exact, "abc*" prefix, "*abc"
// suffix, "*" any non-empty value.
func methodMatcher(v string) *matcherv3.StringMatcher {
	switch {
	case v == "*":
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".+"}}}
	case len(v) > 1 && v[0] == '*':
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: v[1:]}}
	case len(v) > 1 && v[len(v)-1] == '*':
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v[:len(v)-1]}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}
