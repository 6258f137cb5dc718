package dubbo

import (
	"strings"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	actionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/action/v3"
	gpmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/matcher/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// DeniedRoutePrefix starts the name of every route that refuses a call on
// behalf of a DubboAuthorizationPolicy, so traces and stats say why.
const DeniedRoutePrefix = "denied by "

// authorizeRoutes puts a plan's call-level part at the head of a
// generic_proxy route table: a route per denying rule, then, when ALLOW
// rules restrict operations, a route for every call outside them. Denied
// calls go to plugin.ClusterBlackHole, which has no endpoints.
func authorizeRoutes(plan *authzPlan, rc *genericv3.RouteConfiguration) {
	var head []*xdsmatcher.Matcher_MatcherList_FieldMatcher
	for _, r := range plan.reqDeny {
		head = append(head, denyEntry(operations(r.to), DeniedRoutePrefix+r.policy.String()))
	}
	if plan.allowOps {
		var refs []string
		for _, ref := range plan.allowRefs {
			refs = append(refs, ref.String())
		}
		head = append(head, denyEntry(notPredicate(operations(plan.reqAllow)), DeniedRoutePrefix+"no ALLOW rule of "+strings.Join(refs, ", ")))
	}
	if len(head) == 0 {
		return
	}
	if rc.Routes == nil {
		rc.Routes = &xdsmatcher.Matcher{}
	}
	list := rc.Routes.GetMatcherList()
	if list == nil {
		list = &xdsmatcher.Matcher_MatcherList{}
		rc.Routes.MatcherType = &xdsmatcher.Matcher_MatcherList_{MatcherList: list}
	}
	list.Matchers = append(head, list.Matchers...)
}

func denyEntry(p *xdsmatcher.Matcher_MatcherList_Predicate, name string) *xdsmatcher.Matcher_MatcherList_FieldMatcher {
	action := &actionv3.RouteAction{Name: name, ClusterSpecifier: &actionv3.RouteAction_Cluster{Cluster: plugin.ClusterBlackHole}, Timeout: durationpb.New(0)}
	return &xdsmatcher.Matcher_MatcherList_FieldMatcher{
		Predicate: p,
		OnMatch:   &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{Action: xds.MatcherConfig(genericproxy.RouteAction, action)}},
	}
}

// operations is the predicate "one of ops matches".
func operations(ops []authzOperation) *xdsmatcher.Matcher_MatcherList_Predicate {
	preds := make([]*xdsmatcher.Matcher_MatcherList_Predicate, 0, len(ops))
	for _, o := range ops {
		preds = append(preds, operation(o))
	}
	return or(preds)
}

// operation is one "to" entry: fields ANDed, values ORed.
func operation(o authzOperation) *xdsmatcher.Matcher_MatcherList_Predicate {
	var parts []*xdsmatcher.Matcher_MatcherList_Predicate
	field := func(values []string, in func() *xdscore.TypedExtensionConfig, negate bool) {
		if len(values) == 0 {
			return
		}
		var vs []*xdsmatcher.Matcher_MatcherList_Predicate
		for _, v := range values {
			vs = append(vs, single(in(), valueMatcher(v)))
		}
		p := or(vs)
		if negate {
			p = notPredicate(p)
		}
		parts = append(parts, p)
	}
	iface := func() *xdscore.TypedExtensionConfig {
		return xds.MatcherConfig(genericproxy.InputHost, &gpmatcherv3.HostMatchInput{})
	}
	method := func() *xdscore.TypedExtensionConfig {
		return xds.MatcherConfig(genericproxy.InputMethod, &gpmatcherv3.MethodMatchInput{})
	}
	field(o.Interfaces, iface, false)
	field(o.NotInterfaces, iface, true)
	field(o.Methods, method, false)
	field(o.NotMethods, method, true)
	if len(parts) == 1 {
		return parts[0]
	}
	return &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_AndMatcher{AndMatcher: &xdsmatcher.Matcher_MatcherList_Predicate_PredicateList{Predicate: parts}}}
}

func single(in *xdscore.TypedExtensionConfig, m *xdsmatcher.StringMatcher) *xdsmatcher.Matcher_MatcherList_Predicate {
	return &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_{SinglePredicate: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate{
		Input:   in,
		Matcher: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: m},
	}}}
}

func or(ps []*xdsmatcher.Matcher_MatcherList_Predicate) *xdsmatcher.Matcher_MatcherList_Predicate {
	if len(ps) == 1 {
		return ps[0]
	}
	return &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_OrMatcher{OrMatcher: &xdsmatcher.Matcher_MatcherList_Predicate_PredicateList{Predicate: ps}}}
}

func notPredicate(p *xdsmatcher.Matcher_MatcherList_Predicate) *xdsmatcher.Matcher_MatcherList_Predicate {
	return &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_NotMatcher{NotMatcher: p}}
}

// valueMatcher reads a policy value: "abc" exact, "abc*" prefix, "*abc"
// suffix, "*" any non-empty value.
func valueMatcher(v string) *xdsmatcher.StringMatcher {
	switch {
	case v == "*":
		return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_SafeRegex{SafeRegex: &xdsmatcher.RegexMatcher{
			EngineType: &xdsmatcher.RegexMatcher_GoogleRe2{GoogleRe2: &xdsmatcher.RegexMatcher_GoogleRE2{}}, Regex: ".+"}}}
	case strings.HasPrefix(v, "*"):
		return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_Suffix{Suffix: v[1:]}}
	case strings.HasSuffix(v, "*"):
		return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_Prefix{Prefix: v[:len(v)-1]}}
	}
	return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_Exact{Exact: v}}
}
