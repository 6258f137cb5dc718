package metaroute

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Route pieces in the Envoy types most proxy filters share (route
// components, header matchers), so every plugin compares and splits the
// same way.

// StringMatcher is m as Envoy's StringMatcher. A presence match is the
// regex ".*", which only an existing value can satisfy.
func (m AttributeMatch) StringMatcher() *matcherv3.StringMatcher {
	switch m.Kind {
	case MatchExact:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Value}}
	case MatchPrefix:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: m.Value}}
	case MatchRegex:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Value}}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}}
}

// HeaderMatcher is m as a match on the header (attachment, Thrift header,
// meta-protocol property) named after the attribute.
func (m AttributeMatch) HeaderMatcher() *routev3.HeaderMatcher {
	hm := &routev3.HeaderMatcher{Name: m.Name}
	if m.Kind == MatchPresent {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	} else {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: m.StringMatcher()}
	}
	return hm
}

// WeightedClusters is the route's destinations as Envoy's weighted
// clusters, in order, with their weights.
func (r *Route) WeightedClusters() *routev3.WeightedCluster {
	wc := &routev3.WeightedCluster{}
	for _, d := range r.Destinations {
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: d.Cluster, Weight: wrapperspb.UInt32(d.Weight)})
	}
	return wc
}
