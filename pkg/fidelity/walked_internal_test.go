package fidelity

import (
	"fmt"
	"testing"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	actionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/action/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// TestWalkedFieldsFindWhatRangeFound: asking a message for the fields
// that may report (typeInfo.walked), through its Go struct or through
// protoreflect, finds, in the same order and words, what ranging over
// every populated field found: deprecated fields in a route table, a
// not-implemented field inside a packed generic_proxy route action, a
// cluster's implicit and map-keyed extensions, nil entries.
func TestWalkedFieldsFindWhatRangeFound(t *testing.T) {
	action := &actionv3.RouteAction{ClusterSpecifier: &actionv3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
		Clusters: []*routev3.WeightedCluster_ClusterWeight{{Name: "a", Weight: wrapperspb.UInt32(80)}}}}}
	gp := &genericv3.GenericProxy{StatPrefix: "g", RouteSpecifier: &genericv3.GenericProxy_RouteConfig{RouteConfig: &genericv3.RouteConfiguration{Name: "r", Routes: &xdsmatcher.Matcher{
		OnNoMatch: &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{Action: &xdscore.TypedExtensionConfig{Name: "route", TypedConfig: xds.MustAny(action)}}}}}}}
	configs := []proto.Message{
		&routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "v", Domains: []string{"*"}, Routes: []*routev3.Route{{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{
				{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "y"}},
				{Name: "z", HeaderMatchSpecifier: &routev3.HeaderMatcher_PrefixMatch{PrefixMatch: "p"}}}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}},
		}}}}},
		&listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.generic_proxy", gp)}}}},
		&clusterv3.Cluster{Name: "s", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
			TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.filters.network.redis_proxy": xds.MustAny(&redisproxyv3.RedisProtocolOptions{})}},
	}
	// nil entries and a oneof's nil message, which the struct reads as
	// protoreflect does.
	configs = append(configs, &listenerv3.Listener{Name: "n", FilterChains: []*listenerv3.FilterChain{nil, {Filters: []*listenerv3.Filter{nil,
		{Name: "envoy.filters.network.generic_proxy", ConfigType: &listenerv3.Filter_TypedConfig{}}, xds.NetworkFilter("envoy.filters.network.generic_proxy", gp)}}}})
	walked, ranged, reflected := NewMemo(), NewMemo(), NewMemo()
	for _, p := range []string{profile.IstioProxy, profile.Envoy, profile.GRPCGo} {
		for _, m := range configs {
			Checker{Memo: ranged}.Check(profile.MustGet(p), m) // works every type out
			Checker{Memo: reflected}.Check(profile.MustGet(p), m)
		}
	}
	n, direct := 0, 0
	ranged.types.Range(func(_, v any) bool {
		v.(*typeInfo).ranged = true
		n++
		return true
	})
	reflected.types.Range(func(_, v any) bool { // walked through protoreflect, not the structs
		if d := v.(*typeInfo).direct.Load(); d != nil {
			if d.goType != nil {
				direct++
			}
			v.(*typeInfo).direct.Store(&directInfo{mt: d.mt})
		}
		return true
	})
	if direct < 10 {
		t.Fatalf("only %d types read through their structs", direct)
	}
	if n < 20 {
		t.Fatalf("only %d types met", n)
	}
	found := 0
	for _, p := range []string{profile.IstioProxy, profile.Envoy, profile.GRPCGo} {
		for i, m := range configs {
			got, want := Checker{Memo: walked}.Check(profile.MustGet(p), m), Checker{Memo: ranged}.Check(profile.MustGet(p), m)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Errorf("config %d on %s: walked %+v, ranged %+v", i, p, got, want)
			}
			if refl := (Checker{Memo: reflected}).Check(profile.MustGet(p), m); fmt.Sprintf("%+v", refl) != fmt.Sprintf("%+v", want) {
				t.Errorf("config %d on %s: walked through protoreflect %+v, ranged %+v", i, p, refl, want)
			}
			found += len(want)
		}
	}
	if found < 6 {
		t.Errorf("only %d findings: the configs no longer exercise the walk", found)
	}
}
