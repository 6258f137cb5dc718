package dubbo

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// RBACFilterName is Envoy's network RBAC filter.
const RBACFilterName = "envoy.filters.network.rbac"

// authzFilters are the network RBAC filters that enforce a plan's
// connection-level part, in order: refuse everything (fail closed or a
// deny-all rule), deny listed callers, allow only listed callers. In a
// waypoint a connection whose caller is unknown (no peer principal in
// filter state) is refused whenever callers are checked at all, so a
// waypoint that does not carry the identity fails closed.
func authzFilters(ctx *plugin.BuildContext, plan *authzPlan) []*listenerv3.Filter {
	if plan.empty() {
		return nil
	}
	stat := "dubbo_authz." + strings.NewReplacer("|", "_", ":", "_").Replace(ctx.StatPrefix()) + "."
	id := peerIdentity{waypoint: ctx.Role == plugin.RoleWaypoint}
	if plan.denyAll {
		return []*listenerv3.Filter{rbacFilter(stat+"deny_all.", rbacconfigv3.RBAC_DENY, map[string]*rbacconfigv3.Policy{
			"deny-all": {Permissions: anyPermission(), Principals: []*rbacconfigv3.Principal{{Identifier: &rbacconfigv3.Principal_Any{Any: true}}}},
		})}
	}
	var out []*listenerv3.Filter
	deny := map[string]*rbacconfigv3.Policy{}
	for i, r := range plan.connDeny {
		var ps []*rbacconfigv3.Principal
		for _, s := range r.from {
			ps = append(ps, id.source(s))
		}
		deny[fmt.Sprintf("%s/%s[%d]", r.policy.Namespace, r.policy.Name, i)] = &rbacconfigv3.Policy{Permissions: anyPermission(), Principals: ps}
	}
	if id.waypoint && (len(plan.connDeny) > 0 || plan.connAllowActive) {
		deny["unknown-caller"] = &rbacconfigv3.Policy{Permissions: anyPermission(), Principals: []*rbacconfigv3.Principal{not(id.present())}}
	}
	if len(deny) > 0 {
		out = append(out, rbacFilter(stat+"deny.", rbacconfigv3.RBAC_DENY, deny))
	}
	if plan.connAllowActive {
		var ps []*rbacconfigv3.Principal
		for _, s := range plan.connAllow {
			ps = append(ps, id.source(s))
		}
		out = append(out, rbacFilter(stat+"allow.", rbacconfigv3.RBAC_ALLOW, map[string]*rbacconfigv3.Policy{
			"allowed-callers": {Permissions: anyPermission(), Principals: ps},
		}))
	}
	return out
}

func rbacFilter(stat string, action rbacconfigv3.RBAC_Action, policies map[string]*rbacconfigv3.Policy) *listenerv3.Filter {
	return xds.NetworkFilter(RBACFilterName, &rbacv3.RBAC{StatPrefix: stat, Rules: &rbacconfigv3.RBAC{Action: action, Policies: policies}})
}

func anyPermission() []*rbacconfigv3.Permission {
	return []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}}
}

// peerIdentity matches the caller's SPIFFE id: the mTLS peer's URI SAN on
// a sidecar, the HBONE peer's id from filter state in a waypoint.
type peerIdentity struct{ waypoint bool }

func (p peerIdentity) match(m *matcherv3.StringMatcher) *rbacconfigv3.Principal {
	if p.waypoint {
		return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_FilterState{FilterState: &matcherv3.FilterStateMatcher{
			Key: plugin.FilterStatePeerPrincipal, Matcher: &matcherv3.FilterStateMatcher_StringMatch{StringMatch: m},
		}}}
	}
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_Authenticated_{Authenticated: &rbacconfigv3.Principal_Authenticated{PrincipalName: m}}}
}

// present matches any known caller.
func (p peerIdentity) present() *rbacconfigv3.Principal { return p.match(regexMatcher(".+")) }

// source matches one "from" entry: its fields ANDed, each field's values ORed.
func (p peerIdentity) source(s authzSource) *rbacconfigv3.Principal {
	var ids []*rbacconfigv3.Principal
	if len(s.Principals) > 0 {
		ids = append(ids, p.anyOf(s.Principals, principalMatcher))
	}
	if len(s.NotPrincipals) > 0 {
		ids = append(ids, not(p.anyOf(s.NotPrincipals, principalMatcher)))
	}
	if len(s.Namespaces) > 0 {
		ids = append(ids, p.anyOf(s.Namespaces, namespaceMatcher))
	}
	if len(s.NotNamespaces) > 0 {
		ids = append(ids, not(p.anyOf(s.NotNamespaces, namespaceMatcher)))
	}
	switch len(ids) {
	case 0:
		return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_Any{Any: true}}
	case 1:
		return ids[0]
	}
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_AndIds{AndIds: &rbacconfigv3.Principal_Set{Ids: ids}}}
}

func (p peerIdentity) anyOf(values []string, m func(string) *matcherv3.StringMatcher) *rbacconfigv3.Principal {
	vs := append([]string(nil), values...)
	sort.Strings(vs)
	ids := make([]*rbacconfigv3.Principal, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, p.match(m(v)))
	}
	if len(ids) == 1 {
		return ids[0]
	}
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_OrIds{OrIds: &rbacconfigv3.Principal_Set{Ids: ids}}}
}

func not(p *rbacconfigv3.Principal) *rbacconfigv3.Principal {
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_NotId{NotId: p}}
}

// principalMatcher matches a principal written as Istio does
// ("<trust domain>/ns/<ns>/sa/<sa>", the SPIFFE id without "spiffe://"),
// with "abc*" a prefix, "*abc" a suffix and "*" any authenticated caller.
func principalMatcher(v string) *matcherv3.StringMatcher {
	v = strings.TrimPrefix(v, "spiffe://")
	switch {
	case v == "*":
		return regexMatcher(".+")
	case strings.HasPrefix(v, "*"):
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: v[1:]}}
	case strings.HasSuffix(v, "*"):
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + v[:len(v)-1]}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "spiffe://" + v}}
}

// namespaceMatcher matches the namespace part of a SPIFFE id.
func namespaceMatcher(v string) *matcherv3.StringMatcher {
	ns := regexp.QuoteMeta(strings.Trim(v, "*")) // the literal part
	switch {
	case v == "*":
		ns = `[^/]+`
	case strings.HasPrefix(v, "*"):
		ns = `[^/]*` + ns
	case strings.HasSuffix(v, "*"):
		ns = ns + `[^/]*`
	}
	return regexMatcher(`spiffe://[^/]+/ns/` + ns + `/sa/[^/]+`)
}

func regexMatcher(re string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}
