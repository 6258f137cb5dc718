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
	n := len(r.Destinations)
	if n == 0 {
		return &routev3.WeightedCluster{}
	}
	// One array each for the clusters and their weights rather than two
	// allocations per destination, and for the usual split in two all of
	// it in one; the messages are only ever pointed to.
	var (
		wc  *routev3.WeightedCluster
		cws []routev3.WeightedCluster_ClusterWeight
		ws  []wrapperspb.UInt32Value
	)
	if n <= 2 {
		two := &struct {
			wc  routev3.WeightedCluster
			cws [2]routev3.WeightedCluster_ClusterWeight
			ws  [2]wrapperspb.UInt32Value
			ptr [2]*routev3.WeightedCluster_ClusterWeight
		}{}
		wc, cws, ws = &two.wc, two.cws[:n:n], two.ws[:n:n]
		wc.Clusters = two.ptr[:n:n]
	} else {
		wc = &routev3.WeightedCluster{Clusters: make([]*routev3.WeightedCluster_ClusterWeight, n)}
		cws = make([]routev3.WeightedCluster_ClusterWeight, n)
		ws = make([]wrapperspb.UInt32Value, n)
	}
	for i, d := range r.Destinations {
		ws[i].Value = d.Weight
		cws[i].Name, cws[i].Weight = d.Cluster, &ws[i]
		wc.Clusters[i] = &cws[i]
	}
	return wc
}
