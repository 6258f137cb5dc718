package xds

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestReachKnowsWhatCanHoldAnAny: the walks skip a field only when its
// type cannot hold an Any (or, for secrets, a DataSource) at any depth;
// typed metadata, recursive matchers and TLS contexts are descended into.
func TestReachKnowsWhatCanHoldAnAny(t *testing.T) {
	r := NewReach()
	for m, want := range map[proto.Message]bool{
		&listenerv3.Listener{}:                true,
		&corev3.Metadata{}:                    true, // typed_filter_metadata
		&matcherv3.StringMatcher{}:            true, // custom: a TypedExtensionConfig
		&matcherv3.RegexMatcher{}:             false,
		&anypb.Any{}:                          true,
		&corev3.DataSource{}:                  false,
		&corev3.TransportSocket{}:             true,
		&clusterv3.Cluster_EdsClusterConfig{}: true, // ConfigSource holds TypedExtensionConfig
	} {
		if got := r.anyHolds(m.ProtoReflect().Descriptor()); got != want {
			t.Errorf("%T can hold an Any: %v, want %v", m, got, want)
		}
	}
	// Recursive types may be over-approximated ("may hold"), which only
	// walks more: Struct is one, and is asked twice to use the memo.
	_ = r.anyHolds((&structpb.Struct{}).ProtoReflect().Descriptor())
	_ = r.anyHolds((&structpb.Value{}).ProtoReflect().Descriptor())
	if !r.secretHolds((&corev3.DataSource{}).ProtoReflect().Descriptor()) {
		t.Errorf("a DataSource is what HasSecret looks for")
	}
	if r.secretHolds((&matcherv3.RegexMatcher{}).ProtoReflect().Descriptor()) {
		t.Errorf("a RegexMatcher holds neither an Any nor a DataSource")
	}
}

// TestPrunedWalksStillFindDeepThings: an Any of an unknown type in a
// route's typed metadata, deep under matchers that are skipped, is still
// refused by Validate; a private key inline in a cluster's TLS transport
// socket (an Any in an Any) is still a secret.
func TestPrunedWalksStillFindDeepThings(t *testing.T) {
	rc := &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "v", Domains: []string{"*"}, Routes: []*routev3.Route{{
		Match:    &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{{Name: "h", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "x"}}}}}},
		Action:   &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}},
		Metadata: &corev3.Metadata{TypedFilterMetadata: map[string]*anypb.Any{"f": {TypeUrl: "type.googleapis.com/not.Linked"}}},
	}}}}}
	for _, u := range []*Unpacked{nil, NewUnpacked(nil), NewUnpacked(NewReach())} {
		if err := u.Validate(rc); err == nil || !strings.Contains(err.Error(), "RouteConfiguration.virtual_hosts[0].routes[0].metadata.typed_filter_metadata[f]: unknown type type.googleapis.com/not.Linked") {
			t.Errorf("the unknown type deep in typed metadata was not found: %v", err)
		}
	}
	if err := NewReach().Validate(rc); err == nil || !strings.Contains(err.Error(), "typed_filter_metadata[f]: unknown type") {
		t.Errorf("the unknown type deep in typed metadata was not found by a Reach alone: %v", err)
	}
	tls := MustAny(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificates: []*tlsv3.TlsCertificate{{
		PrivateKey: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "key"}}}}}})
	c := &clusterv3.Cluster{Name: "c", TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tls}}}
	if !HasSecret(c) || !NewUnpacked(nil).HasSecret(c) || !NewUnpacked(NewReach()).HasSecret(c) || !NewReach().HasSecret(c) {
		t.Errorf("the private key in the cluster's TLS context was not found")
	}
	if HasSecret(Redact(c)) {
		t.Errorf("the redacted cluster still holds a secret")
	}
}
