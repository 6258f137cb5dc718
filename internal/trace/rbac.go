package trace

import (
	"fmt"
	"sort"
	"strings"

	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
)

// rbacDecide applies the network RBAC filter to a connection: a policy
// matches when one of its permissions and one of its principals match;
// ALLOW lets the connection through only if a policy matches, DENY stops
// it if one does. Principals: any, authenticated (the TLS peer's SPIFFE
// id, when this chain terminated TLS), filter_state (a string in the
// connection's filter state; absent never matches), and_ids, or_ids,
// not_id. Permissions: any, destination_port, and_rules, or_rules,
// not_rule. A policy using anything else cannot be evaluated and the
// connection is denied, to stay on the safe side.
func rbacDecide(c *conn, rules *rbacconfigv3.RBAC) (bool, string) {
	if rules == nil {
		return false, "no rules"
	}
	names := make([]string, 0, len(rules.GetPolicies()))
	for n := range rules.GetPolicies() {
		names = append(names, n)
	}
	sort.Strings(names)
	var matched []string
	for _, n := range names {
		ok, err := policyMatches(c, rules.GetPolicies()[n])
		if err != nil {
			return true, fmt.Sprintf("policy %q: %v (not simulated, so the connection is treated as denied)", n, err)
		}
		if ok {
			matched = append(matched, n)
		}
	}
	peer := "caller " + describePeer(c)
	switch rules.GetAction() {
	case rbacconfigv3.RBAC_DENY:
		if len(matched) > 0 {
			return true, fmt.Sprintf("RBAC DENY: %s matches policy %s", peer, strings.Join(matched, ", "))
		}
		return false, fmt.Sprintf("RBAC DENY: %s matches none of %s", peer, strings.Join(names, ", "))
	case rbacconfigv3.RBAC_ALLOW:
		if len(matched) == 0 {
			return true, fmt.Sprintf("RBAC ALLOW: %s matches none of %s", peer, strings.Join(names, ", "))
		}
		return false, fmt.Sprintf("RBAC ALLOW: %s matches policy %s", peer, strings.Join(matched, ", "))
	}
	return true, fmt.Sprintf("RBAC action %s is not simulated", rules.GetAction())
}

func describePeer(c *conn) string {
	var parts []string
	if c.peer != "" {
		parts = append(parts, "TLS peer "+c.peer)
	}
	if len(c.state) > 0 {
		parts = append(parts, "filter state "+c.state.String())
	}
	if len(parts) == 0 {
		return "(no identity)"
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

func policyMatches(c *conn, p *rbacconfigv3.Policy) (bool, error) {
	perm := false
	for _, pm := range p.GetPermissions() {
		ok, err := permissionMatches(c, pm)
		if err != nil {
			return false, err
		}
		perm = perm || ok
	}
	if !perm {
		return false, nil
	}
	for _, pr := range p.GetPrincipals() {
		ok, err := principalMatches(c, pr)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func permissionMatches(c *conn, p *rbacconfigv3.Permission) (bool, error) {
	switch r := p.GetRule().(type) {
	case *rbacconfigv3.Permission_Any:
		return r.Any, nil
	case *rbacconfigv3.Permission_DestinationPort:
		return c.dst.IsValid() && uint32(c.dst.Port()) == r.DestinationPort, nil
	case *rbacconfigv3.Permission_AndRules:
		for _, x := range r.AndRules.GetRules() {
			if ok, err := permissionMatches(c, x); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *rbacconfigv3.Permission_OrRules:
		for _, x := range r.OrRules.GetRules() {
			if ok, err := permissionMatches(c, x); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *rbacconfigv3.Permission_NotRule:
		ok, err := permissionMatches(c, r.NotRule)
		return !ok, err
	}
	return false, fmt.Errorf("permission %T", p.GetRule())
}

func principalMatches(c *conn, p *rbacconfigv3.Principal) (bool, error) {
	switch id := p.GetIdentifier().(type) {
	case *rbacconfigv3.Principal_Any:
		return id.Any, nil
	case *rbacconfigv3.Principal_Authenticated_:
		if c.peer == "" {
			return false, nil
		}
		if id.Authenticated.GetPrincipalName() == nil {
			return true, nil
		}
		return envoyStringMatch(id.Authenticated.GetPrincipalName(), c.peer)
	case *rbacconfigv3.Principal_FilterState:
		v, ok := c.state.get(id.FilterState.GetKey())
		if !ok {
			return false, nil
		}
		sm := id.FilterState.GetStringMatch()
		if sm == nil {
			return false, fmt.Errorf("filter_state matcher other than string_match")
		}
		return envoyStringMatch(sm, v)
	case *rbacconfigv3.Principal_AndIds:
		for _, x := range id.AndIds.GetIds() {
			if ok, err := principalMatches(c, x); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *rbacconfigv3.Principal_OrIds:
		for _, x := range id.OrIds.GetIds() {
			if ok, err := principalMatches(c, x); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *rbacconfigv3.Principal_NotId:
		ok, err := principalMatches(c, id.NotId)
		return !ok, err
	}
	return false, fmt.Errorf("principal %T", p.GetIdentifier())
}
