package fidelity_test

import (
	"fmt"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// benchFilter is the dubbo_proxy filter of one service of the server's
// full-generation benchmark: a weighted route on a method, and a default
// route.
func benchFilter(u *xds.Unpacked, i int) *listenerv3.Filter {
	host := fmt.Sprintf("svc-%05d.ns-%02d.svc.cluster.local", i, i%100)
	name := "outbound|20880||" + host
	any := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}}
	dp := &dubbov3.DubboProxy{StatPrefix: name, ProtocolType: dubbov3.ProtocolType_Dubbo, SerializationType: dubbov3.SerializationType_Hessian2,
		RouteSpecifier: &dubbov3.DubboProxy_MultipleRouteConfig{MultipleRouteConfig: &dubbov3.MultipleRouteConfiguration{Name: name, RouteConfig: []*dubbov3.RouteConfiguration{
			{Name: name + "|hello", Interface: "*", Routes: []*dubbov3.Route{{
				Match: &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "sayHello"}}}},
				Route: &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
					{Name: "outbound|20880|v2|" + host, Weight: wrapperspb.UInt32(90)}, {Name: "outbound|20880|v1|" + host, Weight: wrapperspb.UInt32(10)}}}}}}}},
			{Name: name + "|default", Interface: "*", Routes: []*dubbov3.Route{{
				Match: &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: any}},
				Route: &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_Cluster{Cluster: "outbound|20880|v1|" + host}}}}},
		}}}}
	return &listenerv3.Filter{Name: "envoy.filters.network.dubbo_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: u.Pack(dp)}}
}

// BenchmarkUnitFidelity is the fidelity gate on one unit's dubbo_proxy
// filter, packed through the unit's Unpacked, with the memo and scratch
// the translator keeps.
func BenchmarkUnitFidelity(b *testing.B) {
	r := xds.NewReach()
	memo := fidelity.NewMemo()
	p := profile.MustGet(profile.IstioProxy)
	scratch := &fidelity.Scratch{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := r.Unpacked()
		f := benchFilter(u, i%100)
		c := fidelity.Checker{Memo: memo, Unpacked: u, Scratch: scratch}
		if fs := c.Check(p, f); len(fs) != 0 {
			b.Fatal(fs)
		}
		u.Release()
		i++
	}
}
