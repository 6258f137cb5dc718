package xds

import (
	"fmt"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
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

// TestPlansFollowRangeOrder: for every type a listener, a cluster, a
// route table or a dubbo_proxy filter reaches, the fields a plan asks for
// are the ones that can hold what the walk looks for, in the order Range
// visits them (this binary's order, which protobuf-go varies by build),
// so a planned walk lists Validate's errors as a ranged one did.
func TestPlansFollowRangeOrder(t *testing.T) {
	r := NewReach()
	seen := map[protoreflect.FullName]bool{}
	var check func(mt protoreflect.MessageType)
	check = func(mt protoreflect.MessageType) {
		d := mt.Descriptor()
		if seen[d.FullName()] {
			return
		}
		seen[d.FullName()] = true
		full := mt.New()
		fields := d.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && full.WhichOneof(od) != nil {
				continue
			}
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := full.Mutable(fd).List()
				l.Append(l.NewElement())
			case fd.IsMap() && fd.MapValue().Message() != nil:
				full.Mutable(fd).Map().Set(fd.MapKey().Default().MapKey(), full.Mutable(fd).Map().NewValue())
			case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
				full.Mutable(fd)
			}
		}
		var order []protoreflect.FieldDescriptor
		full.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			order = append(order, fd)
			return true
		})
		for _, c := range []struct {
			p     *plan
			holds func(protoreflect.MessageDescriptor) bool
		}{{r.anyPlan(full, nil), r.anyHolds}, {r.secretPlan(full, nil), r.secretHolds}} {
			if c.p == nil {
				t.Fatalf("%s has no plan", d.FullName())
			}
			var want []protoreflect.FieldDescriptor
			for _, fd := range order {
				od := fd.ContainingOneof()
				if od == nil || od.IsSynthetic() {
					od = nil
				}
				for i := 0; i < fields.Len(); i++ {
					f := fields.Get(i)
					if f != fd && (od == nil || f.ContainingOneof() != od) {
						continue
					}
					elem := f.Message()
					if f.IsMap() {
						elem = f.MapValue().Message()
					}
					if elem != nil && c.holds(elem) {
						want = append(want, f)
					}
				}
			}
			if len(c.p.steps) != len(want) {
				t.Fatalf("%s: plan of %d fields, want %d", d.FullName(), len(c.p.steps), len(want))
			}
			for i := range want {
				if c.p.steps[i].fd != want[i] {
					t.Fatalf("%s: plan step %d is %s, Range's order gives %s", d.FullName(), i, c.p.steps[i].fd.Name(), want[i].Name())
				}
			}
		}
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if md := fd.Message(); md != nil {
				if child, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
					check(child)
				}
			}
		}
	}
	for _, m := range []proto.Message{&listenerv3.Listener{}, &clusterv3.Cluster{}, &routev3.RouteConfiguration{}, &dubbov3.DubboProxy{}, &tlsv3.UpstreamTlsContext{}} {
		check(m.ProtoReflect().Type())
	}
	if len(seen) < 100 {
		t.Errorf("only %d types checked", len(seen))
	}
}

// TestPlannedWalksVisitNilOneofMessages: a oneof set to a nil message is
// visited as Range visits it: a filter whose typed_config is a nil Any is
// refused alike with and without plans.
func TestPlannedWalksVisitNilOneofMessages(t *testing.T) {
	f := &listenerv3.Filter{Name: "f", ConfigType: &listenerv3.Filter_TypedConfig{}}
	want := Validate(f)
	if want == nil {
		t.Fatal("a nil typed_config passes validation")
	}
	if got := NewUnpacked(NewReach()).Validate(f); got == nil || got.Error() != want.Error() {
		t.Errorf("planned walk: %v, ranged: %v", got, want)
	}
}

// TestPlansReadGeneratedStructsDirectly: a generated type's plan reads its
// fields through the Go struct (directFields); a dynamic message of the
// same type is walked through protoreflect, with the same errors.
func TestPlansReadGeneratedStructsDirectly(t *testing.T) {
	r := NewReach()
	for _, m := range []proto.Message{&listenerv3.Listener{}, &dubbov3.DubboProxy{}, &routev3.RouteConfiguration{}, &clusterv3.Cluster{}} {
		if p := r.anyPlan(m.ProtoReflect(), nil); p == nil || p.goType == nil {
			t.Errorf("%T: no direct plan", m)
		}
	}
	l := &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{nil, {Filters: []*listenerv3.Filter{
		{Name: "f", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/not.Linked"}}}}}}}
	dyn := dynamicpb.NewMessage(l.ProtoReflect().Descriptor())
	b, _ := proto.Marshal(l)
	if err := proto.Unmarshal(b, dyn); err != nil {
		t.Fatal(err)
	}
	if p := r.anyPlan(dyn, nil); p != nil && p.goType != nil {
		t.Errorf("a dynamic message got a direct plan")
	}
	for _, m := range []proto.Message{l, dyn} {
		got, want := NewUnpacked(r).Validate(m), Validate(m) // planned, ranged
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%T: %v, want %v", m, got, want)
		}
	}
	if err := NewUnpacked(r).Validate(l); err == nil || !strings.Contains(err.Error(), "Listener.filter_chains[1].filters[0].typed_config: unknown type") {
		t.Errorf("the unknown type behind a nil chain: %v", err)
	}
}
