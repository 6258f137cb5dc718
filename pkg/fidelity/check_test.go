package fidelity_test

import (
	"fmt"
	"strings"
	"testing"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	actionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/action/v3"
	dubbocodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/dubbo/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

func genericProxy(action *actionv3.RouteAction) *listenerv3.Listener {
	gp := &genericv3.GenericProxy{
		StatPrefix:  "dubbo",
		CodecConfig: xds.TypedConfig("envoy.generic_proxy.codecs.dubbo", &dubbocodecv3.DubboCodecConfig{}),
		RouteSpecifier: &genericv3.GenericProxy_RouteConfig{RouteConfig: &genericv3.RouteConfiguration{Name: "r", Routes: &xdsmatcher.Matcher{
			OnNoMatch: &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{Action: &xdscore.TypedExtensionConfig{Name: "route", TypedConfig: xds.MustAny(action)}}},
		}}},
	}
	return &listenerv3.Listener{Name: "0.0.0.0_20880", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.generic_proxy", gp)}}}}
}

func only(t *testing.T, fs []fidelity.Finding, reason string) fidelity.Finding {
	t.Helper()
	var got []fidelity.Finding
	for _, f := range fs {
		if f.Reason == reason {
			got = append(got, f)
		}
	}
	if len(got) == 0 {
		t.Fatalf("no %s finding in %v", reason, fs)
	}
	return got[0]
}

// TestGenericProxyOnIstioProxyIsWhatEnvoyRejects: istio-proxy has no
// generic_proxy, so the listener is NACKed with Envoy's own words.
func TestGenericProxyOnIstioProxyIsWhatEnvoyRejects(t *testing.T) {
	l := genericProxy(&actionv3.RouteAction{ClusterSpecifier: &actionv3.RouteAction_Cluster{Cluster: "c"}})
	fs := fidelity.Check(profile.MustGet(profile.IstioProxy), l)
	f := only(t, fs, fidelity.ReasonExtensionMissing)
	if f.Extension != "envoy.filters.network.generic_proxy" || f.Type != "envoy.extensions.filters.network.generic_proxy.v3.GenericProxy" || !f.Refuses() {
		t.Errorf("finding %+v", f)
	}
	for _, want := range []string{"Listener.filter_chains[0].filters[0].typed_config", "not in the istio-proxy build",
		"Didn't find a registered implementation for name: 'envoy.filters.network.generic_proxy'", "builds that have it: envoy"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q lacks %q", f.Message, want)
		}
	}
	if fs := fidelity.Errors(fidelity.Check(profile.MustGet(profile.Envoy), l)); len(fs) != 0 {
		t.Errorf("upstream Envoy has generic_proxy and its Dubbo codec, yet: %v", fs)
	}
}

// TestWeightedClustersOnGenericProxyIsNotImplemented: Envoy marks the
// field [#not-implemented-hide:]; the check reports it on any build.
func TestWeightedClustersOnGenericProxyIsNotImplemented(t *testing.T) {
	l := genericProxy(&actionv3.RouteAction{ClusterSpecifier: &actionv3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
		Clusters: []*routev3.WeightedCluster_ClusterWeight{{Name: "a", Weight: wrapperspb.UInt32(80)}, {Name: "b", Weight: wrapperspb.UInt32(20)}},
	}}})
	f := only(t, fidelity.Check(profile.MustGet(profile.Envoy), l), fidelity.ReasonNotImplemented)
	if f.Field != "envoy.extensions.filters.network.generic_proxy.action.v3.RouteAction.weighted_clusters" || !strings.Contains(f.Message, "[#not-implemented-hide:]") || !f.Refuses() {
		t.Errorf("finding %+v", f)
	}
	if !strings.Contains(f.Path, "<RouteAction>.weighted_clusters") {
		t.Errorf("path %q does not lead to the field", f.Path)
	}
}

// TestTypedStructIsLookedUpByTheTypeItCarries: Aeraki's filter, carried
// as a TypedStruct, is found only where its type is registered.
func TestTypedStructIsLookedUpByTheTypeItCarries(t *testing.T) {
	ts := &xdstypev3.TypedStruct{TypeUrl: "type.googleapis.com/aeraki.meta_protocol_proxy.v1alpha.MetaProtocolProxy", Value: &structpb.Struct{}}
	l := &listenerv3.Listener{FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{xds.NetworkFilter("aeraki.meta_protocol_proxy", ts)}}}}
	f := only(t, fidelity.Check(profile.MustGet(profile.IstioProxy), l), fidelity.ReasonExtensionMissing)
	if f.Type != "aeraki.meta_protocol_proxy.v1alpha.MetaProtocolProxy" || strings.Join(f.Carriers, ",") != profile.AerakiMetaProtocolProxy {
		t.Errorf("finding %+v", f)
	}
	if fs := fidelity.Check(profile.MustGet(profile.AerakiMetaProtocolProxy), l); len(fs) != 0 {
		t.Errorf("Aeraki's image has its own filter, yet: %v", fs)
	}
}

// TestImplicitExtensions: discovery types and internal listeners need
// extensions the config does not name.
func TestImplicitExtensions(t *testing.T) {
	grpc := profile.MustGet(profile.GRPCGo)
	static := &clusterv3.Cluster{Name: "s", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}
	if f := only(t, fidelity.Check(grpc, static), fidelity.ReasonExtensionMissing); f.Extension != "envoy.clusters.static" {
		t.Errorf("finding %+v", f)
	}
	eds := &clusterv3.Cluster{Name: "e", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}
	if fs := fidelity.Check(grpc, eds); len(fs) != 0 {
		t.Errorf("grpc-go takes EDS clusters, yet: %v", fs)
	}
	internal := &listenerv3.Listener{Name: "i", ListenerSpecifier: &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}}}
	if f := only(t, fidelity.Check(grpc, internal), fidelity.ReasonExtensionMissing); f.Extension != fidelity.InternalListenerExtension {
		t.Errorf("finding %+v", f)
	}
	if fs := fidelity.Check(profile.MustGet(profile.IstioProxy), internal); len(fs) != 0 {
		t.Errorf("istio-proxy has internal listeners, yet: %v", fs)
	}
}

// TestMapKeysNameTheExtension: typed_extension_protocol_options is keyed
// by the filter whose protocol options it holds.
func TestMapKeysNameTheExtension(t *testing.T) {
	c := &clusterv3.Cluster{Name: "r", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.filters.network.redis_proxy": xds.MustAny(&redisproxyv3.RedisProtocolOptions{})}}
	if fs := fidelity.Check(profile.MustGet(profile.GRPCGo), c); len(fs) != 1 || fs[0].Extension != "envoy.filters.network.redis_proxy" {
		t.Errorf("findings %v", fs)
	}
	if fs := fidelity.Check(profile.MustGet(profile.IstioProxy), c); len(fs) != 0 {
		t.Errorf("istio-proxy has redis_proxy, yet: %v", fs)
	}
}

// TestDeprecatedFieldsWarn: deprecated fields are warnings, not refusals.
func TestDeprecatedFieldsWarn(t *testing.T) {
	rc := &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "v", Domains: []string{"*"}, Routes: []*routev3.Route{{
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			Headers: []*routev3.HeaderMatcher{{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "y"}}}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}},
	}}}}}
	fs := fidelity.Check(profile.MustGet(profile.IstioProxy), rc)
	f := only(t, fs, fidelity.ReasonDeprecated)
	if f.Severity != model.SeverityWarning || f.Refuses() || f.Field != "envoy.config.route.v3.HeaderMatcher.exact_match" {
		t.Errorf("finding %+v", f)
	}
	if len(fidelity.Errors(fs)) != 0 {
		t.Errorf("errors: %v", fidelity.Errors(fs))
	}
}

// TestCheckThroughUnpackedFindsTheSame: a Checker that decodes through a
// shared xds.Unpacked (as the translator's gates do) gives the same
// findings as one that decodes every Any, on every config above, checked
// twice against builds that differ in what they refuse; and an Any whose
// content is replaced after a check is checked anew.
func TestCheckThroughUnpackedFindsTheSame(t *testing.T) {
	ts := &xdstypev3.TypedStruct{TypeUrl: "type.googleapis.com/aeraki.meta_protocol_proxy.v1alpha.MetaProtocolProxy", Value: &structpb.Struct{}}
	configs := []proto.Message{
		genericProxy(&actionv3.RouteAction{ClusterSpecifier: &actionv3.RouteAction_Cluster{Cluster: "c"}}),
		genericProxy(&actionv3.RouteAction{ClusterSpecifier: &actionv3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
			Clusters: []*routev3.WeightedCluster_ClusterWeight{{Name: "a", Weight: wrapperspb.UInt32(80)}}}}}),
		&listenerv3.Listener{FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{xds.NetworkFilter("aeraki.meta_protocol_proxy", ts)}}}},
		&clusterv3.Cluster{Name: "r", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.filters.network.redis_proxy": xds.MustAny(&redisproxyv3.RedisProtocolOptions{})}},
	}
	shared := fidelity.Checker{Unpacked: xds.NewUnpacked(xds.NewReach())}
	for range 2 {
		for _, p := range []string{profile.IstioProxy, profile.Envoy, profile.GRPCGo} {
			for i, m := range configs {
				got, want := shared.Check(profile.MustGet(p), m), fidelity.Check(profile.MustGet(p), m)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("config %d on %s: through Unpacked %v, alone %v", i, p, got, want)
				}
			}
		}
	}
	// The weighted-cluster action replaced by a plain one inside the same
	// Any: the not-implemented finding goes.
	l := configs[1].(*listenerv3.Listener)
	route := l.FilterChains[0].Filters[0].GetTypedConfig()
	gp, _ := shared.Unpacked.Unpack(route)
	plain := genericProxy(&actionv3.RouteAction{ClusterSpecifier: &actionv3.RouteAction_Cluster{Cluster: "c"}})
	route.Value = plain.FilterChains[0].Filters[0].GetTypedConfig().Value
	if fs := shared.Check(profile.MustGet(profile.Envoy), l); len(fs) != 0 {
		t.Errorf("after its Any was replaced (was %T), the listener still has findings: %v", gp, fs)
	}
}
