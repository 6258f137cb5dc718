package trace

import (
	"fmt"

	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
)

// envoyStringMatch applies Envoy's own StringMatcher
// (envoy.type.matcher.v3), which RBAC, header matchers and thrift routes
// use. It has the same fields and numbers as xDS's, so it is converted and
// matched the same way.
func envoyStringMatch(m *matcherv3.StringMatcher, val string) (bool, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return false, err
	}
	x := &xdsmatcher.StringMatcher{}
	if err := proto.Unmarshal(b, x); err != nil {
		return false, err
	}
	return stringMatch(x, val)
}

// describeEnvoyStringMatcher renders an Envoy StringMatcher for hops.
func describeEnvoyStringMatcher(m *matcherv3.StringMatcher) string {
	b, _ := proto.Marshal(m)
	x := &xdsmatcher.StringMatcher{}
	_ = proto.Unmarshal(b, x)
	return describeStringMatcher(x)
}

// headerMatches applies a route HeaderMatcher to a request's headers: a
// missing header fails (unless the matcher is an inverted presence match),
// invert_match negates the result.
func headerMatches(hm *routev3.HeaderMatcher, headers map[string]string) (bool, string, error) {
	v, ok := headers[hm.GetName()]
	var match bool
	var what string
	switch s := hm.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_PresentMatch:
		match, what = ok == s.PresentMatch, "present"
	case *routev3.HeaderMatcher_StringMatch:
		what = describeEnvoyStringMatcher(s.StringMatch)
		if ok {
			var err error
			if match, err = envoyStringMatch(s.StringMatch, v); err != nil {
				return false, "", err
			}
		}
	case *routev3.HeaderMatcher_ExactMatch:
		match, what = ok && v == s.ExactMatch, fmt.Sprintf("exact %q", s.ExactMatch)
	case *routev3.HeaderMatcher_PrefixMatch:
		match, what = ok && len(v) >= len(s.PrefixMatch) && v[:len(s.PrefixMatch)] == s.PrefixMatch, fmt.Sprintf("prefix %q", s.PrefixMatch)
	case nil:
		match, what = ok, "present"
	default:
		return false, "", fmt.Errorf("header matcher %T is not simulated", s)
	}
	if hm.GetInvertMatch() {
		match, what = !match, "not "+what
	}
	return match, fmt.Sprintf("header %s %s", hm.GetName(), what), nil
}
