package xds_test

import (
	"fmt"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// benchDubboProxy is the dubbo_proxy filter config of one service of the
// server's full-generation benchmark: a weighted route on a method, and a
// default route.
func benchDubboProxy(i int) *dubbov3.DubboProxy {
	host := fmt.Sprintf("svc-%05d.ns-%02d.svc.cluster.local", i, i%100)
	name := "outbound|20880||" + host
	any := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}}
	return &dubbov3.DubboProxy{StatPrefix: name, ProtocolType: dubbov3.ProtocolType_Dubbo, SerializationType: dubbov3.SerializationType_Hessian2,
		RouteSpecifier: &dubbov3.DubboProxy_MultipleRouteConfig{MultipleRouteConfig: &dubbov3.MultipleRouteConfiguration{Name: name, RouteConfig: []*dubbov3.RouteConfiguration{
			{Name: name + "|hello", Interface: "*", Routes: []*dubbov3.Route{{
				Match: &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "sayHello"}}}},
				Route: &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
					{Name: "outbound|20880|v2|" + host, Weight: wrapperspb.UInt32(90)}, {Name: "outbound|20880|v1|" + host, Weight: wrapperspb.UInt32(10)}}}}}}}},
			{Name: name + "|default", Interface: "*", Routes: []*dubbov3.Route{{
				Match: &dubbov3.RouteMatch{Method: &dubbov3.MethodMatch{Name: any}},
				Route: &dubbov3.RouteAction{ClusterSpecifier: &dubbov3.RouteAction_Cluster{Cluster: "outbound|20880|v1|" + host}}}}},
		}}}}
}

// BenchmarkUnitGates is the validation gate and the secret check of one
// unit's dubbo_proxy filter, packed through the unit's Unpacked, as the
// translator runs them for every unit it builds: two walks (Validate,
// HasSecret) or one (ValidateAndHasSecret).
func BenchmarkUnitGates(b *testing.B) {
	r := xds.NewReach()
	msgs := make([]*dubbov3.DubboProxy, 100)
	for i := range msgs {
		msgs[i] = benchDubboProxy(i)
	}
	for _, oneWalk := range []bool{false, true} {
		b.Run(fmt.Sprintf("one-walk=%v", oneWalk), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				u := r.Unpacked()
				f := &listenerv3.Filter{Name: "envoy.filters.network.dubbo_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: u.Pack(msgs[i%len(msgs)])}}
				var err error
				secret := false
				if oneWalk {
					secret, err = u.ValidateAndHasSecret(f)
				} else {
					err, secret = u.Validate(f), u.HasSecret(f)
				}
				if err != nil || secret {
					b.Fatal(err, secret)
				}
				u.Release()
				i++
			}
		})
	}
}

// TestReachIsSharedAcrossGoroutines: walks through one Reach from many
// goroutines at once (the translator's build workers) find what a walk
// alone finds; run with -race, it checks the plans are shared safely.
func TestReachIsSharedAcrossGoroutines(t *testing.T) {
	r := xds.NewReach()
	want := xds.Validate(&listenerv3.Filter{Name: "f", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: xds.MustAny(&dubbov3.DubboProxy{})}})
	if want == nil {
		t.Fatal("an empty dubbo_proxy passes validation")
	}
	done := make(chan string)
	for g := range 8 {
		go func() {
			msg := ""
			for i := range 50 {
				u := r.Unpacked()
				if err := u.Validate(u.NetworkFilter("f", benchDubboProxy(g*50+i))); err != nil {
					msg = err.Error()
				}
				if err := u.Validate(u.NetworkFilter("f", &dubbov3.DubboProxy{})); err == nil || err.Error() != want.Error() {
					msg = fmt.Sprint("an empty dubbo_proxy: ", err)
				}
				u.Release()
			}
			done <- msg
		}()
	}
	for range 8 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
