package trace

import (
	"testing"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	gpmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/matcher/v3"
)

// Each test names the rule of Envoy's unified matcher API it checks.

func TestMatcher_ExactMatchMapHitAndOnNoMatch(t *testing.T) {
	m := exactMap(dstPort, map[string]*xdsmatcher.Matcher_OnMatch{"80": action("http")}, action("other"))
	if got := matchAction(t, m, connTo("1.1.1.1:1", "2.2.2.2:80")); got != "http" {
		t.Fatalf("port 80: got %q", got)
	}
	if got := matchAction(t, m, connTo("1.1.1.1:1", "2.2.2.2:81")); got != "other" {
		t.Fatalf("port 81: got %q, want on_no_match", got)
	}
}

func TestMatcher_NoOnNoMatchMeansNoMatch(t *testing.T) {
	m := exactMap(dstPort, map[string]*xdsmatcher.Matcher_OnMatch{"80": action("http")}, nil)
	if got := matchAction(t, m, connTo("1.1.1.1:1", "2.2.2.2:81")); got != "" {
		t.Fatalf("got %q, want no match", got)
	}
}

func TestMatcher_NestedMatcherFailureFallsToParentOnNoMatch(t *testing.T) {
	inner := exactMap(dstPort, map[string]*xdsmatcher.Matcher_OnMatch{"80": action("web")}, nil)
	outer := ipTree(dstIP, []rangeMatcher{{prefixes: []string{"2.2.2.2/32"}, onMatch: nested(inner)}}, action("fallback"))
	if got := matchAction(t, outer, connTo("1.1.1.1:1", "2.2.2.2:80")); got != "web" {
		t.Fatalf("got %q", got)
	}
	if got := matchAction(t, outer, connTo("1.1.1.1:1", "2.2.2.2:81")); got != "fallback" {
		t.Fatalf("got %q: a nested matcher that finds nothing lets the parent's on_no_match apply", got)
	}
}

func TestMatcher_PrefixMatchMapLongestPrefixFirst(t *testing.T) {
	m := prefixMap(dstIP, map[string]*xdsmatcher.Matcher_OnMatch{"10.": action("ten"), "10.1.": action("ten-one")}, nil)
	if got := matchAction(t, m, connTo("1.1.1.1:1", "10.1.2.3:80")); got != "ten-one" {
		t.Fatalf("got %q, want the longest prefix", got)
	}
	if got := matchAction(t, m, connTo("1.1.1.1:1", "10.2.2.3:80")); got != "ten" {
		t.Fatalf("got %q", got)
	}
}

func TestMatcher_PrefixMatchMapTriesShorterPrefixWhenNestedFails(t *testing.T) {
	m := prefixMap(dstIP, map[string]*xdsmatcher.Matcher_OnMatch{
		"10.":   action("ten"),
		"10.1.": nested(exactMap(dstPort, map[string]*xdsmatcher.Matcher_OnMatch{"443": action("tls")}, nil)),
	}, nil)
	if got := matchAction(t, m, connTo("1.1.1.1:1", "10.1.2.3:80")); got != "ten" {
		t.Fatalf("got %q, want the shorter prefix after the longer one's nested matcher failed", got)
	}
}

func TestMatcher_MatcherListFirstMatchWins(t *testing.T) {
	m := &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherList_{MatcherList: &xdsmatcher.Matcher_MatcherList{Matchers: []*xdsmatcher.Matcher_MatcherList_FieldMatcher{
		{Predicate: valuePred(input(&gpmatcherv3.MethodMatchInput{}), "sayHello"), OnMatch: action("first")},
		{Predicate: valuePred(input(&gpmatcherv3.MethodMatchInput{}), "sayHello"), OnMatch: action("second")},
	}}}}
	var trail matchTrail
	a, err := evalMatcher(m, genericInputs(newRequest(map[string]string{"method": "sayHello"})), &trail)
	if err != nil || a.GetName() != "first" {
		t.Fatalf("got %v (%v), want first", a.GetName(), err)
	}
}

func TestMatcher_MatcherListNestedFailureTriesNextFieldMatcher(t *testing.T) {
	method := input(&gpmatcherv3.MethodMatchInput{})
	m := &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherList_{MatcherList: &xdsmatcher.Matcher_MatcherList{Matchers: []*xdsmatcher.Matcher_MatcherList_FieldMatcher{
		{Predicate: valuePred(method, "sayHello"), OnMatch: nested(&xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherList_{MatcherList: &xdsmatcher.Matcher_MatcherList{
			Matchers: []*xdsmatcher.Matcher_MatcherList_FieldMatcher{{Predicate: valuePred(input(&gpmatcherv3.PropertyMatchInput{PropertyName: "env"}), "canary"), OnMatch: action("canary")}}}}})},
		{Predicate: valuePred(method, "sayHello"), OnMatch: action("stable")},
	}}}}
	var trail matchTrail
	a, err := evalMatcher(m, genericInputs(newRequest(map[string]string{"method": "sayHello"})), &trail)
	if err != nil || a.GetName() != "stable" {
		t.Fatalf("got %v (%v), want the next field matcher", a.GetName(), err)
	}
}

func TestMatcher_AbsentInputIsNoMatch(t *testing.T) {
	// An internal connection whose destination nothing restored has no
	// destination IP: the tree goes to on_no_match.
	m := ipTree(dstIP, []rangeMatcher{{prefixes: []string{"0.0.0.0/0"}, onMatch: action("any")}}, action("no-ip"))
	c := &conn{state: filterState{}}
	if got := matchAction(t, m, c); got != "no-ip" {
		t.Fatalf("got %q", got)
	}
}

func TestIPMatcher_LongestPrefixWins(t *testing.T) {
	m := ipTree(srcIP, []rangeMatcher{
		{prefixes: []string{"10.0.0.0/8"}, onMatch: action("wide")},
		{prefixes: []string{"10.0.0.0/24"}, onMatch: action("narrow")},
	}, nil)
	if got := matchAction(t, m, connTo("10.0.0.5:1", "1.1.1.1:80")); got != "narrow" {
		t.Fatalf("got %q", got)
	}
}

func TestIPMatcher_ExclusiveRangeNotTriedAfterMoreSpecificFails(t *testing.T) {
	failing := nested(exactMap(dstPort, map[string]*xdsmatcher.Matcher_OnMatch{"443": action("tls")}, nil))
	build := func(exclusive bool) *xdsmatcher.Matcher {
		return ipTree(srcIP, []rangeMatcher{
			{prefixes: []string{"0.0.0.0/0"}, onMatch: action("everyone"), exclusive: exclusive},
			{prefixes: []string{"10.0.0.0/24"}, onMatch: failing},
		}, action("on-no-match"))
	}
	c := connTo("10.0.0.5:1", "1.1.1.1:80")
	if got := matchAction(t, build(false), c); got != "everyone" {
		t.Fatalf("non-exclusive: got %q, want the less specific range", got)
	}
	if got := matchAction(t, build(true), c); got != "on-no-match" {
		t.Fatalf("exclusive: got %q, want on_no_match", got)
	}
}

func TestFilterChainMatcher_TakesPrecedenceOverFilterChainMatch(t *testing.T) {
	l := portListener("l", 15001,
		namedChain("by-match", &listenerv3.FilterChainMatch{DestinationPort: port(80)}, tcp("c")),
		namedChain("by-matcher", nil, tcp("c")),
	)
	l.FilterChainMatcher = exactMap(dstPort, map[string]*xdsmatcher.Matcher_OnMatch{"80": action("by-matcher")}, nil)
	c := connTo("1.1.1.1:1", "2.2.2.2:80")
	c.listener = l
	ch, _, err := selectChain(c)
	if err != nil || ch.GetName() != "by-matcher" {
		t.Fatalf("got %v (%v): filter_chain_matcher decides when set", ch.GetName(), err)
	}
}

func valuePred(in *xdscore.TypedExtensionConfig, exact string) *xdsmatcher.Matcher_MatcherList_Predicate {
	return &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_{SinglePredicate: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate{
		Input:   in,
		Matcher: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_Exact{Exact: exact}}},
	}}}
}
