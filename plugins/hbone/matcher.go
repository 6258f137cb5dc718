package hbone

import (
	"net/netip"
	"sort"
	"strconv"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	networkinputv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// This file builds filter_chain_matcher trees with the unified matcher
// API: tree lookups (sublinear in the number of chains) on the
// connection's source IP, destination IP and destination port.

// Names of the matcher inputs; Envoy selects inputs by type, the names
// only make config dumps readable.
func inputSourceIP() *xdscore.TypedExtensionConfig {
	return xds.MatcherConfig("source-ip", &networkinputv3.SourceIPInput{})
}

func inputDestinationIP() *xdscore.TypedExtensionConfig {
	return xds.MatcherConfig("destination-ip", &networkinputv3.DestinationIPInput{})
}

func inputDestinationPort() *xdscore.TypedExtensionConfig {
	return xds.MatcherConfig("destination-port", &networkinputv3.DestinationPortInput{})
}

// inputPeerPrincipal reads the caller's SPIFFE id that connect_terminate
// stored in filter state (Envoy's envoy.matching.inputs.filter_state: the
// object's serialized string, no value when it is absent).
func inputPeerPrincipal() *xdscore.TypedExtensionConfig {
	return xds.MatcherConfig("peer-principal", &networkinputv3.FilterStateInput{Key: plugin.FilterStatePeerPrincipal})
}

// toChain is the matcher action selecting a filter chain by name.
func toChain(name string) *xdsmatcher.Matcher_OnMatch {
	return &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{
		Action: xds.MatcherConfig(name, wrapperspb.String(name)),
	}}
}

// toMatcher continues matching with a nested matcher.
func toMatcher(m *xdsmatcher.Matcher) *xdsmatcher.Matcher_OnMatch {
	return &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Matcher{Matcher: m}}
}

// ipRange is one set of addresses with what to do when the input is among them.
type ipRange struct {
	ips     []string
	onMatch *xdsmatcher.Matcher_OnMatch
}

// ipMatcher looks the input IP up in a trie of ranges (longest prefix
// wins); onNoMatch applies to addresses in none of them. Ranges are
// exclusive so that a nested matcher failing never falls back to a
// shorter prefix.
func ipMatcher(input *xdscore.TypedExtensionConfig, ranges []ipRange, onNoMatch *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher {
	m := &xdsmatcher.IPMatcher{}
	for _, r := range ranges {
		cidrs := cidrRanges(r.ips)
		if len(cidrs) == 0 {
			continue
		}
		m.RangeMatchers = append(m.RangeMatchers, &xdsmatcher.IPMatcher_IPRangeMatcher{Ranges: cidrs, OnMatch: r.onMatch, Exclusive: true})
	}
	return ipTree(input, m, onNoMatch)
}

// ipTree is the matcher tree looking input up in m; nil when m has no
// range.
func ipTree(input *xdscore.TypedExtensionConfig, m *xdsmatcher.IPMatcher, onNoMatch *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher {
	if len(m.RangeMatchers) == 0 {
		return nil
	}
	return &xdsmatcher.Matcher{
		MatcherType: &xdsmatcher.Matcher_MatcherTree_{MatcherTree: &xdsmatcher.Matcher_MatcherTree{
			Input:    input,
			TreeType: &xdsmatcher.Matcher_MatcherTree_CustomMatch{CustomMatch: xds.MatcherConfig("ip", m)},
		}},
		OnNoMatch: onNoMatch,
	}
}

// prefixRange is one address prefix with what to do for an input in it.
type prefixRange struct {
	prefix  netip.Prefix
	onMatch *xdsmatcher.Matcher_OnMatch
}

// prefixMatcher looks the input IP up among prefixes (exclusive, like
// ipMatcher's ranges); nil when there is none.
func prefixMatcher(input *xdscore.TypedExtensionConfig, ranges []prefixRange, onNoMatch *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher {
	m := &xdsmatcher.IPMatcher{}
	for _, r := range ranges {
		m.RangeMatchers = append(m.RangeMatchers, &xdsmatcher.IPMatcher_IPRangeMatcher{
			Ranges:    []*xdscore.CidrRange{{AddressPrefix: r.prefix.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(r.prefix.Bits()))}},
			OnMatch:   r.onMatch,
			Exclusive: true,
		})
	}
	return ipTree(input, m, onNoMatch)
}

// cidrRanges turns addresses into host routes (/32, /128), sorted, without duplicates.
func cidrRanges(ips []string) []*xdscore.CidrRange {
	seen := map[string]bool{}
	var addrs []netip.Addr
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || seen[a.String()] {
			continue
		}
		seen[a.String()] = true
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	out := make([]*xdscore.CidrRange, len(addrs))
	for i, a := range addrs {
		out[i] = &xdscore.CidrRange{AddressPrefix: a.String(), PrefixLen: wrapperspb.UInt32(uint32(a.BitLen()))}
	}
	return out
}

// portMatcher looks the input port up exactly; nil when there is no entry
// (an exact_match_map needs at least one).
func portMatcher(input *xdscore.TypedExtensionConfig, ports map[uint32]*xdsmatcher.Matcher_OnMatch, onNoMatch *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher {
	if len(ports) == 0 {
		return nil
	}
	m := map[string]*xdsmatcher.Matcher_OnMatch{}
	for p, om := range ports {
		m[strconv.FormatUint(uint64(p), 10)] = om
	}
	return &xdsmatcher.Matcher{
		MatcherType: &xdsmatcher.Matcher_MatcherTree_{MatcherTree: &xdsmatcher.Matcher_MatcherTree{
			Input:    input,
			TreeType: &xdsmatcher.Matcher_MatcherTree_ExactMatchMap{ExactMatchMap: &xdsmatcher.Matcher_MatcherTree_MatchMap{Map: m}},
		}},
		OnNoMatch: onNoMatch,
	}
}

// orChain continues with m when there is one, else goes to the fallback.
func orChain(m *xdsmatcher.Matcher, fallback *xdsmatcher.Matcher_OnMatch) *xdsmatcher.Matcher_OnMatch {
	if m == nil {
		return fallback
	}
	return toMatcher(m)
}
