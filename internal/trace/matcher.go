package trace

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	ipmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/input_matchers/ip/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// This file evaluates the unified matcher API (xds.type.matcher.v3) the
// way Envoy's matcher framework does:
//
//   - matcher_list: field matchers in order; the first whose predicate
//     holds and whose on_match yields an action wins. A nested matcher that
//     finds nothing lets the next field matcher try.
//   - matcher_tree with exact_match_map: the input's value is looked up
//     exactly; with prefix_match_map the longest key that prefixes it is
//     tried first, then shorter ones when a nested matcher finds nothing.
//   - matcher_tree with the IP matcher (xds.type.matcher.v3.IPMatcher): the
//     range matchers containing the address, longest prefix first;
//     after the most specific one fails its nested match, only
//     non-exclusive ones are tried.
//   - An absent input, or a tree lookup that finds nothing, falls to
//     on_no_match; a matcher without one has not matched.

// inputFunc reads the value of a matcher input for the data being
// matched; present is false when the data has none (an absent header, an
// internal address).
type inputFunc func(input *xdscore.TypedExtensionConfig) (value string, present bool, err error)

// matchTrail records the decisions of one evaluation, for the hop's detail.
type matchTrail []string

func (t *matchTrail) add(format string, args ...any) { *t = append(*t, fmt.Sprintf(format, args...)) }

// String joins the decisions.
func (t matchTrail) String() string { return strings.Join(t, "; ") }

// evalMatcher returns the action m selects, nil when it selects none.
func evalMatcher(m *xdsmatcher.Matcher, in inputFunc, trail *matchTrail) (*xdscore.TypedExtensionConfig, error) {
	a, _, err := matchTree(m, in, trail, 0)
	return a, err
}

const maxMatcherDepth = 32

func matchTree(m *xdsmatcher.Matcher, in inputFunc, t *matchTrail, depth int) (*xdscore.TypedExtensionConfig, bool, error) {
	if depth > maxMatcherDepth {
		return nil, false, fmt.Errorf("matcher nested deeper than %d levels", maxMatcherDepth)
	}
	switch mt := m.GetMatcherType().(type) {
	case *xdsmatcher.Matcher_MatcherList_:
		for i, fm := range mt.MatcherList.GetMatchers() {
			ok, err := predicate(fm.GetPredicate(), in, t)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				continue
			}
			t.add("matcher_list[%d] predicate holds", i)
			a, matched, err := onMatch(fm.GetOnMatch(), in, t, depth)
			if err != nil || matched {
				return a, matched, err
			}
			t.add("matcher_list[%d]: nested matcher found nothing, next", i)
		}
	case *xdsmatcher.Matcher_MatcherTree_:
		a, matched, err := treeLookup(mt.MatcherTree, in, t, depth)
		if err != nil || matched {
			return a, matched, err
		}
	default:
		// MatchTreeFactory::create builds an AnyMatcher for a matcher with
		// neither (source/common/matcher/matcher.h): on_no_match applies to
		// every input.
		t.add("no matcher_list or matcher_tree: any input")
	}
	if m.GetOnNoMatch() == nil {
		return nil, false, nil
	}
	t.add("on_no_match")
	return onMatch(m.GetOnNoMatch(), in, t, depth)
}

func onMatch(om *xdsmatcher.Matcher_OnMatch, in inputFunc, t *matchTrail, depth int) (*xdscore.TypedExtensionConfig, bool, error) {
	switch o := om.GetOnMatch().(type) {
	case *xdsmatcher.Matcher_OnMatch_Action:
		t.add("action %s", o.Action.GetName())
		return o.Action, true, nil
	case *xdsmatcher.Matcher_OnMatch_Matcher:
		return matchTree(o.Matcher, in, t, depth+1)
	}
	return nil, false, nil
}

func treeLookup(tree *xdsmatcher.Matcher_MatcherTree, in inputFunc, t *matchTrail, depth int) (*xdscore.TypedExtensionConfig, bool, error) {
	val, present, err := in(tree.GetInput())
	if err != nil {
		return nil, false, err
	}
	name := inputName(tree.GetInput())
	if !present {
		t.add("%s: no value", name)
		return nil, false, nil
	}
	switch tt := tree.GetTreeType().(type) {
	case *xdsmatcher.Matcher_MatcherTree_ExactMatchMap:
		om, ok := tt.ExactMatchMap.GetMap()[val]
		if !ok {
			t.add("%s %q: not in exact_match_map", name, val)
			return nil, false, nil
		}
		t.add("%s %q: exact_match_map hit", name, val)
		return onMatch(om, in, t, depth)
	case *xdsmatcher.Matcher_MatcherTree_PrefixMatchMap:
		keys := prefixesOf(tt.PrefixMatchMap.GetMap(), val)
		if len(keys) == 0 {
			t.add("%s %q: no prefix_match_map key prefixes it", name, val)
		}
		for _, k := range keys {
			t.add("%s %q: prefix_match_map key %q (longest first)", name, val, k)
			a, matched, err := onMatch(tt.PrefixMatchMap.GetMap()[k], in, t, depth)
			if err != nil || matched {
				return a, matched, err
			}
		}
		return nil, false, nil
	case *xdsmatcher.Matcher_MatcherTree_CustomMatch:
		return customTree(tt.CustomMatch, name, val, in, t, depth)
	}
	return nil, false, fmt.Errorf("matcher_tree without a tree type")
}

// prefixesOf returns the keys of m that prefix val, longest first.
func prefixesOf(m map[string]*xdsmatcher.Matcher_OnMatch, val string) []string {
	var keys []string
	for k := range m {
		if strings.HasPrefix(val, k) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	return keys
}

func customTree(cfg *xdscore.TypedExtensionConfig, name, val string, in inputFunc, t *matchTrail, depth int) (*xdscore.TypedExtensionConfig, bool, error) {
	msg, err := unpack(cfg.GetTypedConfig())
	if err != nil {
		return nil, false, err
	}
	ipm, ok := msg.(*xdsmatcher.IPMatcher)
	if !ok {
		return nil, false, fmt.Errorf("custom matcher %s is not simulated", cfg.GetTypedConfig().GetTypeUrl())
	}
	addr, err := netip.ParseAddr(val)
	if err != nil {
		t.add("%s %q: not an IP address", name, val)
		return nil, false, nil
	}
	cands := ipCandidates(ipm, addr)
	if len(cands) == 0 {
		t.add("%s %s: in no range of the IP matcher", name, addr)
		return nil, false, nil
	}
	for i, c := range cands {
		if i > 0 && c.rm.GetExclusive() {
			t.add("%s %s: range %s is exclusive and a more specific range exists, skipped", name, addr, c.prefix)
			continue
		}
		t.add("%s %s: in range %s (IP matcher, longest prefix)", name, addr, c.prefix)
		a, matched, err := onMatch(c.rm.GetOnMatch(), in, t, depth)
		if err != nil || matched {
			return a, matched, err
		}
	}
	return nil, false, nil
}

type ipCandidate struct {
	rm     *xdsmatcher.IPMatcher_IPRangeMatcher
	prefix netip.Prefix
	order  int
}

// ipCandidates are the range matchers containing addr, most specific
// first, then in declaration order.
func ipCandidates(m *xdsmatcher.IPMatcher, addr netip.Addr) []ipCandidate {
	var out []ipCandidate
	for i, rm := range m.GetRangeMatchers() {
		best := netip.Prefix{}
		for _, r := range rm.GetRanges() {
			p, err := cidr(r.GetAddressPrefix(), r.GetPrefixLen().GetValue(), r.GetPrefixLen() != nil)
			if err == nil && p.Contains(addr) && (!best.IsValid() || p.Bits() > best.Bits()) {
				best = p
			}
		}
		if best.IsValid() {
			out = append(out, ipCandidate{rm: rm, prefix: best, order: i})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].prefix.Bits() > out[j].prefix.Bits() })
	return out
}

// cidr parses an address prefix; without a length it is a host route.
func cidr(prefix string, bits uint32, hasLen bool) (netip.Prefix, error) {
	a, err := netip.ParseAddr(prefix)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !hasLen {
		bits = uint32(a.BitLen())
	}
	return a.Prefix(int(bits))
}

func predicate(p *xdsmatcher.Matcher_MatcherList_Predicate, in inputFunc, t *matchTrail) (bool, error) {
	switch pt := p.GetMatchType().(type) {
	case *xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_:
		return singlePredicate(pt.SinglePredicate, in, t)
	case *xdsmatcher.Matcher_MatcherList_Predicate_AndMatcher:
		for _, q := range pt.AndMatcher.GetPredicate() {
			if ok, err := predicate(q, in, t); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *xdsmatcher.Matcher_MatcherList_Predicate_OrMatcher:
		for _, q := range pt.OrMatcher.GetPredicate() {
			if ok, err := predicate(q, in, t); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *xdsmatcher.Matcher_MatcherList_Predicate_NotMatcher:
		ok, err := predicate(pt.NotMatcher, in, t)
		return !ok, err
	}
	return false, fmt.Errorf("predicate without a match type")
}

func singlePredicate(sp *xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate, in inputFunc, t *matchTrail) (bool, error) {
	val, present, err := in(sp.GetInput())
	if err != nil {
		return false, err
	}
	name := inputName(sp.GetInput())
	if !present {
		t.add("%s: no value, predicate false", name)
		return false, nil
	}
	switch m := sp.GetMatcher().(type) {
	case *xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch:
		ok, err := stringMatch(m.ValueMatch, val)
		if err == nil && !ok {
			t.add("%s %q does not match %s", name, val, describeStringMatcher(m.ValueMatch))
		}
		return ok, err
	case *xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_CustomMatch:
		msg, err := unpack(m.CustomMatch.GetTypedConfig())
		if err != nil {
			return false, err
		}
		ipm, ok := msg.(*ipmatcherv3.Ip)
		if !ok {
			return false, fmt.Errorf("input matcher %s is not simulated", m.CustomMatch.GetTypedConfig().GetTypeUrl())
		}
		addr, err := netip.ParseAddr(val)
		if err != nil {
			return false, nil
		}
		for _, r := range ipm.GetCidrRanges() {
			if p, err := cidr(r.GetAddressPrefix(), r.GetPrefixLen().GetValue(), r.GetPrefixLen() != nil); err == nil && p.Contains(addr) {
				return true, nil
			}
		}
		t.add("%s %s in none of the IP input matcher's ranges", name, addr)
		return false, nil
	}
	return false, fmt.Errorf("single predicate without a matcher")
}

// stringMatch applies xDS's StringMatcher; safe_regex must match the whole value.
func stringMatch(m *xdsmatcher.StringMatcher, val string) (bool, error) {
	v := val
	fold := func(s string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(s)
		}
		return s
	}
	v = fold(v)
	switch p := m.GetMatchPattern().(type) {
	case *xdsmatcher.StringMatcher_Exact:
		return v == fold(p.Exact), nil
	case *xdsmatcher.StringMatcher_Prefix:
		return strings.HasPrefix(v, fold(p.Prefix)), nil
	case *xdsmatcher.StringMatcher_Suffix:
		return strings.HasSuffix(v, fold(p.Suffix)), nil
	case *xdsmatcher.StringMatcher_Contains:
		return strings.Contains(v, fold(p.Contains)), nil
	case *xdsmatcher.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + p.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return false, fmt.Errorf("regex %q: %w", p.SafeRegex.GetRegex(), err)
		}
		return re.MatchString(val), nil
	}
	return false, fmt.Errorf("string matcher without a pattern")
}

func describeStringMatcher(m *xdsmatcher.StringMatcher) string {
	switch p := m.GetMatchPattern().(type) {
	case *xdsmatcher.StringMatcher_Exact:
		return fmt.Sprintf("exact %q", p.Exact)
	case *xdsmatcher.StringMatcher_Prefix:
		return fmt.Sprintf("prefix %q", p.Prefix)
	case *xdsmatcher.StringMatcher_Suffix:
		return fmt.Sprintf("suffix %q", p.Suffix)
	case *xdsmatcher.StringMatcher_Contains:
		return fmt.Sprintf("contains %q", p.Contains)
	case *xdsmatcher.StringMatcher_SafeRegex:
		return fmt.Sprintf("regex %q", p.SafeRegex.GetRegex())
	}
	return "?"
}

// inputName is how a hop names an input: the config's name, else its type.
func inputName(in *xdscore.TypedExtensionConfig) string {
	if in.GetName() != "" {
		return in.GetName()
	}
	u := in.GetTypedConfig().GetTypeUrl()
	return u[strings.LastIndex(u, ".")+1:]
}

// unpack decodes an Any into its message.
func unpack(a *anypb.Any) (proto.Message, error) {
	if a == nil {
		return nil, fmt.Errorf("missing typed_config")
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("cannot decode %s: %w", a.GetTypeUrl(), err)
	}
	return m, nil
}
