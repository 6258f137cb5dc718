package dubbo

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/aeraki-ng/aeraki/api/conditions"
	dubbov1alpha1 "github.com/aeraki-ng/aeraki/api/dubbo/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// DubboAuthorizationPolicy is enforced in two places, because stock Envoy
// has no RBAC filter for generic_proxy (docs/dubbo-authorization.md):
//
//   - per connection, by the network RBAC filter in front of
//     generic_proxy, which knows the caller's identity (the mTLS peer's
//     SPIFFE id on a sidecar; the HBONE peer's, from filter state, in a
//     waypoint) but not the call;
//   - per call, by routes at the head of generic_proxy's route table, which
//     know the interface and method but not the caller, and send a denied
//     call to plugin.ClusterBlackHole.
//
// A rule that needs both at once ("from X to method M") cannot be split
// exactly. Such DENY rules deny the operation for every caller (over-deny,
// reported as a warning); ALLOW rules that do not factor into "callers G
// may call operations H" fail closed (every call to the workload is
// refused, reported as an error on each ALLOW policy). Nothing is ever
// allowed that the policies do not allow.

// authzSource is one "from" entry: its fields are ANDed, the values of a
// field ORed.
type authzSource struct {
	Principals, NotPrincipals, Namespaces, NotNamespaces []string
}

// authzOperation is one "to" entry.
type authzOperation struct {
	Interfaces, NotInterfaces, Methods, NotMethods []string
}

// authzRule is a rule: it matches when one source and one operation match;
// no sources (or no operations) means any.
type authzRule struct {
	policy model.ObjectRef
	from   []authzSource
	to     []authzOperation
}

func (r authzRule) anySource() bool    { return len(r.from) == 0 }
func (r authzRule) anyOperation() bool { return len(r.to) == 0 }

// authzPlan is what the policies of a workload compile to.
type authzPlan struct {
	// connDeny are connection-level DENY rules (sources), by policy.
	connDeny []authzRule
	// connAllow, when restricting, are the sources allowed to connect.
	connAllow       []authzSource
	connAllowActive bool
	// denyAll refuses every connection: an ALLOW set that matches nothing
	// or cannot be enforced exactly, or a DENY rule matching everything.
	denyAll   bool
	denyWhy   string
	reqDeny   []authzRule      // calls denied by operation
	reqAllow  []authzOperation // when restricting, the only operations allowed
	allowOps  bool
	policies  []model.ObjectRef
	allowRefs []model.ObjectRef
	// inexact is set when a rule needs the caller and the call together
	// (a mixed DENY rule enforced for every caller, or a mixed ALLOW set
	// failing closed): what caller classes can make exact.
	inexact bool
}

// empty reports whether no policy applies.
func (p *authzPlan) empty() bool { return len(p.policies) == 0 }

// needsRoutes reports whether calls must be checked in the route table.
func (p *authzPlan) needsRoutes() bool { return len(p.reqDeny) > 0 || p.allowOps }

// PolicyRef is the ObjectRef of a DubboAuthorizationPolicy.
func PolicyRef(p *dubbov1alpha1.DubboAuthorizationPolicy) model.ObjectRef {
	return model.ObjectRef{Group: dubbov1alpha1.GroupName, Kind: "DubboAuthorizationPolicy", Namespace: p.Namespace, Name: p.Name}
}

// policiesFor are the policies that apply to the service being built: its
// namespace's and the mesh root namespace's.
func policiesFor(ctx *plugin.BuildContext) []*dubbov1alpha1.DubboAuthorizationPolicy {
	out := append([]*dubbov1alpha1.DubboAuthorizationPolicy(nil), AuthorizationPolicies(ctx.Model, ctx.Service.Namespace)...)
	if root := ctx.Model.Options().RootNamespace; root != "" && root != ctx.Service.Namespace {
		out = append(out, AuthorizationPolicies(ctx.Model, root)...)
	}
	return out
}

// compileAuthz turns the policies of the service being built into a plan
// for the callers of the chain being built (authz_callers.go), reporting
// on each policy what cannot be enforced exactly when report is set. The
// chains of caller classes never report: the default chain reports for
// the port.
func compileAuthz(ctx *plugin.BuildContext, report bool) *authzPlan {
	classes := callerClasses(ctx)
	plan := compileAuthzFor(ctx, knowledgeFor(ctx, classes), report && ctx.Caller == nil)
	if report {
		tooManyCallers(ctx, plan, classes)
	}
	return plan
}

// compileAuthzFor compiles the policies for the callers k describes (nil:
// every caller).
func compileAuthzFor(ctx *plugin.BuildContext, k *callerKnowledge, report bool) *authzPlan {
	plan := &authzPlan{}
	var allow []authzRule
	hasAllow := false
	for _, pol := range policiesFor(ctx) {
		ref := PolicyRef(pol)
		plan.policies = append(plan.policies, ref)
		rules := k.reduce(normalizeRules(ref, pol.Spec.Rules))
		if field, err := checkRegexes(ctx, pol.Spec.Rules); err != nil {
			// A matcher Envoy would refuse takes the whole RBAC filter with
			// it; refusing every call is the closed way to fail.
			plan.denyAll, plan.denyWhy = true, fmt.Sprintf("%s needs a regex the proxy refuses", ref)
			if report {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: field, Reason: conditions.ReasonUnsupportedValue,
					Message: err.Error() + "; Dubbo calls to the workloads it covers are refused until it is fixed"})
			}
			continue
		}
		switch pol.Spec.Action {
		case dubbov1alpha1.ActionAllow, "":
			hasAllow = true
			plan.allowRefs = append(plan.allowRefs, ref)
			allow = append(allow, rules...)
		case dubbov1alpha1.ActionDeny:
			for _, r := range rules {
				switch {
				case r.anySource() && r.anyOperation():
					plan.denyAll, plan.denyWhy = true, fmt.Sprintf("%s denies every call", ref)
				case r.anyOperation():
					plan.connDeny = append(plan.connDeny, r)
				case r.anySource():
					plan.reqDeny = append(plan.reqDeny, r)
				default:
					plan.reqDeny = append(plan.reqDeny, authzRule{policy: r.policy, to: r.to})
					plan.inexact = true
					if report {
						ctx.Warnf(ref, "spec.rules", conditions.ReasonUnsupportedValue, "%s", overDenyMessage(ctx, k))
					}
				}
			}
		default:
			plan.denyAll, plan.denyWhy = true, fmt.Sprintf("%s has action %q, which is neither ALLOW nor DENY", ref, pol.Spec.Action)
			if report {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: "spec.action", Reason: conditions.ReasonUnsupportedValue,
					Message: fmt.Sprintf("action %q is neither ALLOW nor DENY; Dubbo calls to the workloads it covers are refused until it is fixed", pol.Spec.Action)})
			}
		}
	}
	if hasAllow {
		planAllow(ctx, k, plan, allow, report)
	}
	return plan
}

// overDenyMessage explains a mixed DENY rule enforced on its operations
// alone, and what would make it exact.
func overDenyMessage(ctx *plugin.BuildContext, k *callerKnowledge) string {
	const what = "a rule with both from and to is enforced on the operations alone: the matching calls are denied for every caller (over-deny, never over-allow)"
	if ctx.ByCaller && k == nil {
		return fmt.Sprintf("%s on waypoint %s/%s, whose policies name too many principals and namespaces for a chain per caller class (see the other warning)", what, ctx.Waypoint.Namespace, ctx.Waypoint.Name)
	}
	if ctx.ByCaller {
		return fmt.Sprintf("%s on the callers of waypoint %s/%s that no caller class covers: the waypoint picks a chain per exact principal and exact namespace the policies name, and this rule's sources are patterns it cannot decide before the call; name principals or namespaces exactly", what, ctx.Waypoint.Namespace, ctx.Waypoint.Name)
	}
	return fmt.Sprintf("%s on this proxy (%s, build %s): it checks the caller per connection and the Dubbo call per request, and cannot pick a chain by caller (aeraki-served waypoints on a build with envoy.matching.inputs.filter_state, such as envoy, can, and enforce such rules exactly); split the rule, or use from-only and to-only rules", what, ctx.Role, ctx.Profile.Name)
}

// allowMixedMessage explains a mixed ALLOW set failing closed.
func allowMixedMessage(ctx *plugin.BuildContext, k *callerKnowledge) string {
	const what = "the ALLOW rules of the namespace's policies pair different callers with different operations"
	const fix = "Dubbo calls are refused (fail closed) until the rules allow the same callers everything they list, or the same operations to every caller they list"
	if ctx.ByCaller && k == nil {
		return fmt.Sprintf("%s, and waypoint %s/%s's policies name too many principals and namespaces for a chain per caller class (see the other warning); %s", what, ctx.Waypoint.Namespace, ctx.Waypoint.Name, fix)
	}
	if ctx.ByCaller {
		return fmt.Sprintf("%s, and some sources are patterns waypoint %s/%s cannot decide before it picks a chain (it picks one per exact principal and exact namespace the policies name); for the callers no such class covers, %s, or name principals and namespaces exactly", what, ctx.Waypoint.Namespace, ctx.Waypoint.Name, fix)
	}
	return fmt.Sprintf("%s, which this proxy (%s, build %s) cannot enforce exactly: it checks callers per connection and operations per call, and cannot pick a chain by caller (aeraki-served waypoints on a build with envoy.matching.inputs.filter_state, such as envoy, can, and enforce such rules exactly); %s", what, ctx.Role, ctx.Profile.Name, fix)
}

// planAllow splits the ALLOW rules into a connection part and a call part
// when they factor as "sources G may call operations H", else fails closed.
func planAllow(ctx *plugin.BuildContext, k *callerKnowledge, plan *authzPlan, rules []authzRule, report bool) {
	if len(rules) == 0 {
		plan.denyAll, plan.denyWhy = true, "ALLOW policies with no rules match nothing"
		return
	}
	for _, r := range rules {
		if r.anySource() && r.anyOperation() {
			return // one rule allows everything
		}
	}
	sameFrom, sameTo := true, true
	for _, r := range rules[1:] {
		sameFrom = sameFrom && reflect.DeepEqual(r.from, rules[0].from)
		sameTo = sameTo && reflect.DeepEqual(r.to, rules[0].to)
	}
	allFromOnly, allToOnly := true, true
	for _, r := range rules {
		allFromOnly = allFromOnly && r.anyOperation()
		allToOnly = allToOnly && r.anySource()
	}
	switch {
	case allToOnly || (sameFrom && !rules[0].anySource()):
		// G = the common sources (any for to-only rules), H = OR of operations.
		if !rules[0].anySource() {
			plan.connAllow, plan.connAllowActive = rules[0].from, true
		}
		for _, r := range rules {
			if r.anyOperation() {
				plan.reqAllow, plan.allowOps = nil, false
				return
			}
			plan.reqAllow = append(plan.reqAllow, r.to...)
		}
		plan.allowOps = true
	case allFromOnly || sameTo:
		// G = OR of sources (any when one rule takes any caller), H = the
		// common operations.
		plan.connAllowActive = true
		for _, r := range rules {
			if r.anySource() {
				plan.connAllow, plan.connAllowActive = nil, false
				break
			}
			plan.connAllow = append(plan.connAllow, r.from...)
		}
		if !rules[0].anyOperation() {
			plan.reqAllow, plan.allowOps = rules[0].to, true
		}
	default:
		plan.inexact = true
		plan.denyAll, plan.denyWhy = true, "the ALLOW rules combine callers and operations in a way stock Envoy cannot enforce exactly"
		if report {
			for _, ref := range plan.allowRefs {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: "spec.rules", Reason: conditions.ReasonUnsupportedValue,
					Message: allowMixedMessage(ctx, k)})
			}
		}
	}
}

// checkRegexes checks the regexes the namespace matchers of rules become
// (namespaceMatcher) against the proxies' RE2 program size limit, and
// returns the field of the first one too large.
func checkRegexes(ctx *plugin.BuildContext, rules []dubbov1alpha1.Rule) (string, error) {
	limit := ctx.Model.Options().RegexMaxProgramSize
	for i, r := range rules {
		for j, f := range r.From {
			if f.Source == nil {
				continue
			}
			for _, fv := range []struct {
				field  string
				values []string
			}{{"namespaces", f.Source.Namespaces}, {"notNamespaces", f.Source.NotNamespaces}} {
				field := fv.field
				for k, v := range fv.values {
					re := namespaceMatcher(v).GetSafeRegex().GetRegex()
					if re == "" {
						continue
					}
					if err := re2.Check(re, limit); err != nil {
						return fmt.Sprintf("spec.rules[%d].from[%d].source.%s[%d]", i, j, field, k), fmt.Errorf("namespace %q: %w", v, err)
					}
				}
			}
		}
	}
	return "", nil
}

// normalizeRules reads a policy's rules; a nil source or operation matches
// anything and is dropped from its list only when it is the only entry.
func normalizeRules(ref model.ObjectRef, rules []dubbov1alpha1.Rule) []authzRule {
	out := make([]authzRule, 0, len(rules))
	for _, r := range rules {
		ar := authzRule{policy: ref}
		anyFrom, anyTo := len(r.From) == 0, len(r.To) == 0
		for _, f := range r.From {
			s := authzSource{}
			if f.Source != nil {
				s = authzSource{sorted(f.Source.Principals), sorted(f.Source.NotPrincipals), sorted(f.Source.Namespaces), sorted(f.Source.NotNamespaces)}
			}
			if reflect.DeepEqual(s, authzSource{}) {
				anyFrom = true
			}
			ar.from = append(ar.from, s)
		}
		for _, t := range r.To {
			o := authzOperation{}
			if t.Operation != nil {
				o = authzOperation{sorted(t.Operation.Interfaces), sorted(t.Operation.NotInterfaces), sorted(t.Operation.Methods), sorted(t.Operation.NotMethods)}
			}
			if reflect.DeepEqual(o, authzOperation{}) {
				anyTo = true
			}
			ar.to = append(ar.to, o)
		}
		if anyFrom {
			ar.from = nil
		}
		if anyTo {
			ar.to = nil
		}
		out = append(out, ar)
	}
	return out
}

func sorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
