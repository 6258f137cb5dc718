package dubbo

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// Exact DubboAuthorizationPolicy on proxies that pick the port's chain by
// caller (plugin.L7Request.ByCaller: aeraki-served waypoints, whose
// main_internal matches the HBONE peer's SPIFFE id in filter state
// before it picks a chain).
//
// Every exact principal and exact namespace named in the policies is a
// caller class with a chain of its own; every other caller gets the
// default chain. A class tells the plugin enough about the caller to
// decide rule sources statically: a principal class decides every source
// (its namespace is part of the id), a namespace class decides namespace
// values and exact principals (those have classes of their own, tried
// first), and the default chain knows its callers are none of the
// classes. A rule whose sources are decided for a class becomes a to-only
// rule (its sources match) or disappears (they do not), and to-only rules
// are exact in the route table. What stays undecided (principal
// patterns, namespace patterns on the default chain) is enforced as on a
// sidecar: network RBAC for from-only rules, over-deny for mixed DENY
// rules, fail closed for mixed ALLOW sets, each reported on the policy.

// MaxCallerClasses bounds the chains one port gets for its callers. Past
// it the port gets one chain (over-deny or fail closed, reported), so a
// namespace with thousands of principals in its policies cannot multiply
// the waypoint's config without bound.
const MaxCallerClasses = 32

var _ plugin.CallerClassifier = (*Plugin)(nil)

// CallerClasses implements plugin.CallerClassifier: the exact principals
// (first) and exact namespaces the policies of the port name, when one
// chain cannot enforce them exactly; nil otherwise.
func (p *Plugin) CallerClasses(ctx *plugin.BuildContext) []plugin.Caller {
	return callerClasses(ctx)
}

// callerClasses is CallerClasses, also used while building a chain, so
// both agree on what the default chain may assume.
func callerClasses(ctx *plugin.BuildContext) []plugin.Caller {
	if !ctx.ByCaller || ctx.Role != plugin.RoleWaypoint {
		return nil
	}
	plan := compileAuthzFor(ctx, nil, false)
	if !plan.inexact {
		return nil
	}
	principals, namespaces := map[string]bool{}, map[string]bool{}
	for _, pol := range policiesFor(ctx) {
		for _, r := range normalizeRules(PolicyRef(pol), pol.Spec.Rules) {
			for _, s := range r.from {
				for _, v := range append(append([]string(nil), s.Principals...), s.NotPrincipals...) {
					if exactValue(v) {
						principals[principalID(v)] = true
					}
				}
				for _, v := range append(append([]string(nil), s.Namespaces...), s.NotNamespaces...) {
					if exactValue(v) && re2.Check(plugin.CallerNamespaceRegex(v), ctx.Model.Options().RegexMaxProgramSize) == nil {
						namespaces[v] = true
					}
				}
			}
		}
	}
	if len(principals)+len(namespaces) > MaxCallerClasses {
		return nil
	}
	var out []plugin.Caller
	for _, id := range sortedKeys(principals) {
		out = append(out, plugin.Caller{Principal: id})
	}
	for _, ns := range sortedKeys(namespaces) {
		out = append(out, plugin.Caller{Namespace: ns})
	}
	return out
}

// tooManyCallers reports a port whose policies name more caller classes
// than MaxCallerClasses; classes are callerClasses(ctx).
func tooManyCallers(ctx *plugin.BuildContext, plan *authzPlan, classes []plugin.Caller) {
	if !ctx.ByCaller || ctx.Caller != nil || !plan.inexact || len(classes) > 0 {
		return
	}
	for _, ref := range plan.policies {
		ctx.Warnf(ref, "spec.rules", conditions.ReasonUnsupportedValue,
			"the policies of %s name more than %d exact principals and namespaces, so waypoint %s/%s keeps one chain for every caller of port %d and enforces them as a sidecar would (over-deny or fail closed, as reported)",
			ctx.Service.Hostname, MaxCallerClasses, ctx.Waypoint.Namespace, ctx.Waypoint.Name, ctx.Port.Number)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// exactValue is a policy value without wildcard.
func exactValue(v string) bool { return v != "" && !strings.Contains(v, "*") }

// principalID is a policy principal as a SPIFFE id.
func principalID(v string) string { return "spiffe://" + strings.TrimPrefix(v, "spiffe://") }

// callerKnowledge is what the chain being built knows about its callers.
type callerKnowledge struct {
	caller     *plugin.Caller  // nil: none of the classes
	principals map[string]bool // SPIFFE ids with a class of their own
	namespaces map[string]bool // namespaces with a class of their own
}

// knowledgeFor is what ctx's chain knows about its callers, given the
// port's classes (callerClasses(ctx)), or nil when it serves every caller.
func knowledgeFor(ctx *plugin.BuildContext, classes []plugin.Caller) *callerKnowledge {
	if len(classes) == 0 {
		return nil
	}
	k := &callerKnowledge{caller: ctx.Caller, principals: map[string]bool{}, namespaces: map[string]bool{}}
	for _, c := range classes {
		if c.Principal != "" {
			k.principals[c.Principal] = true
		} else {
			k.namespaces[c.Namespace] = true
		}
	}
	return k
}

// tri is a three-valued truth: a source decided true or false for every
// caller of the chain, or unknown.
type tri int

const (
	triUnknown tri = iota
	triTrue
	triFalse
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func (t tri) not() tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

// anyOf is the OR of values' truths.
func anyOf(values []string, f func(string) tri) tri {
	out := triFalse
	for _, v := range values {
		switch f(v) {
		case triTrue:
			return triTrue
		case triUnknown:
			out = triUnknown
		}
	}
	return out
}

// principal decides a principal value (principalMatcher's semantics).
func (k *callerKnowledge) principal(v string) tri {
	if k.caller != nil && k.caller.Principal != "" {
		id := k.caller.Principal
		v = strings.TrimPrefix(v, "spiffe://")
		switch {
		case v == "*":
			return triTrue
		case strings.HasPrefix(v, "*"):
			return triOf(strings.HasSuffix(id, v[1:]))
		case strings.HasSuffix(v, "*"):
			return triOf(strings.HasPrefix(id, "spiffe://"+v[:len(v)-1]))
		}
		return triOf(id == principalID(v))
	}
	if exactValue(v) && k.principals[principalID(v)] {
		return triFalse // that caller has a chain of its own
	}
	if v == "*" && k.caller != nil {
		return triTrue // a namespace class's callers have an identity
	}
	return triUnknown
}

// namespace decides a namespace value (namespaceMatcher's semantics).
func (k *callerKnowledge) namespace(v string) tri {
	ns, known := "", false
	switch {
	case k.caller != nil && k.caller.Principal != "":
		var ok bool
		if ns, ok = plugin.CallerNamespace(k.caller.Principal); !ok {
			return triFalse // namespaceMatcher needs .../ns/<ns>/sa/<sa>
		}
		known = true
	case k.caller != nil:
		ns, known = k.caller.Namespace, true
	}
	if !known {
		if exactValue(v) && k.namespaces[v] {
			return triFalse
		}
		return triUnknown
	}
	lit := strings.Trim(v, "*") // what namespaceMatcher quotes
	switch {
	case v == "*":
		return triTrue
	case strings.HasPrefix(v, "*"):
		return triOf(strings.HasSuffix(ns, lit))
	case strings.HasSuffix(v, "*"):
		return triOf(strings.HasPrefix(ns, lit))
	}
	return triOf(ns == v)
}

// source decides one "from" entry: fields ANDed.
func (k *callerKnowledge) source(s authzSource) tri {
	out := triTrue
	for _, t := range []tri{
		fieldTri(s.Principals, k.principal, false),
		fieldTri(s.NotPrincipals, k.principal, true),
		fieldTri(s.Namespaces, k.namespace, false),
		fieldTri(s.NotNamespaces, k.namespace, true),
	} {
		switch t {
		case triFalse:
			return triFalse
		case triUnknown:
			out = triUnknown
		}
	}
	return out
}

func fieldTri(values []string, f func(string) tri, negate bool) tri {
	if len(values) == 0 {
		return triTrue
	}
	t := anyOf(values, f)
	if negate {
		return t.not()
	}
	return t
}

// reduce rewrites rules for the chain's callers: a rule whose sources
// match them all loses its sources (to-only), a rule no source of which
// can match them is dropped, and undecided sources stay for RBAC.
func (k *callerKnowledge) reduce(rules []authzRule) []authzRule {
	if k == nil {
		return rules
	}
	out := make([]authzRule, 0, len(rules))
	for _, r := range rules {
		if r.anySource() {
			out = append(out, r)
			continue
		}
		var keep []authzSource
		matched := false
		for _, s := range r.from {
			switch k.source(s) {
			case triTrue:
				matched = true
			case triUnknown:
				keep = append(keep, s)
			}
		}
		switch {
		case matched:
			r.from = nil
		case len(keep) == 0:
			continue
		default:
			r.from = keep
		}
		out = append(out, r)
	}
	return out
}

// describe names the callers of a chain, for messages.
func (k *callerKnowledge) describe() string {
	if k == nil {
		return "every caller"
	}
	if k.caller != nil {
		return fmt.Sprintf("callers %s", k.caller)
	}
	return "the callers no class names"
}
