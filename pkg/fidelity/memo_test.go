package fidelity_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// recursiveTypes are test.Root {D d = 1; A a = 2; repeated C cs = 3;
// map<string, C> m = 4}, A {B b = 1; int32 n = 2}, B {A a = 1; C c = 2},
// C {int32 x = 1 [deprecated]; E e = 2}, enum E {ZERO; OLD [deprecated]},
// D {D d = 1; string s = 2}: what A reports is only reached through the
// cycle A -> B -> A, and D, recursive too, can report nothing.
func recursiveTypes(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	msg := func(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
	}
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), JsonName: proto.String(name), Number: proto.Int32(n), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()}
		if typeName != "" {
			f.TypeName = proto.String(".test." + typeName)
		}
		return f
	}
	const (
		msgT   = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		int32T = descriptorpb.FieldDescriptorProto_TYPE_INT32
	)
	deprecated := field("x", 1, int32T, "")
	deprecated.Options = &descriptorpb.FieldOptions{Deprecated: proto.Bool(true)}
	cs := field("cs", 3, msgT, "C")
	cs.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	m := field("m", 4, msgT, "Root.MEntry")
	m.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	entry := msg("MEntry", field("key", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""), field("value", 2, msgT, "C"))
	entry.Options = &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)}
	root := msg("Root", field("d", 1, msgT, "D"), field("a", 2, msgT, "A"), cs, m)
	root.NestedType = []*descriptorpb.DescriptorProto{entry}
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("test/recursive.proto"), Package: proto.String("test"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			root,
			msg("A", field("b", 1, msgT, "B"), field("n", 2, int32T, "")),
			msg("B", field("a", 1, msgT, "A"), field("c", 2, msgT, "C")),
			msg("C", deprecated, field("e", 2, descriptorpb.FieldDescriptorProto_TYPE_ENUM, "E")),
			msg("D", field("d", 1, msgT, "D"), field("s", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING, "")),
		},
		EnumType: []*descriptorpb.EnumDescriptorProto{{Name: proto.String("E"), Value: []*descriptorpb.EnumValueDescriptorProto{
			{Name: proto.String("ZERO"), Number: proto.Int32(0)},
			{Name: proto.String("OLD"), Number: proto.Int32(1), Options: &descriptorpb.EnumValueOptions{Deprecated: proto.Bool(true)}},
		}}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestMemoFindsThroughRecursiveTypes: with one Memo for every check (as
// the translator keeps one), a deprecated field and enum value reached
// only through a cycle of types, in a list and in a map, are found
// wherever they are, whichever type the Memo met first; a recursive type
// that can report nothing is walked past. A copied Scratch walks alone.
func TestMemoFindsThroughRecursiveTypes(t *testing.T) {
	fd := recursiveTypes(t)
	types := fd.Messages()
	newMsg := func(name string) *dynamicpb.Message {
		return dynamicpb.NewMessage(types.ByName(protoreflect.Name(name)))
	}
	set := func(m *dynamicpb.Message, field string, v protoreflect.Value) *dynamicpb.Message {
		m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(field)), v)
		return m
	}
	msgV := func(m *dynamicpb.Message) protoreflect.Value { return protoreflect.ValueOfMessage(m) }
	c := func() *dynamicpb.Message {
		return set(set(newMsg("C"), "x", protoreflect.ValueOfInt32(1)), "e", protoreflect.ValueOfEnum(1))
	}
	// a.b.a.b.c: A -> B -> A -> B -> C.
	b2 := set(newMsg("B"), "c", msgV(c()))
	a2 := set(newMsg("A"), "b", msgV(b2))
	b1 := set(newMsg("B"), "a", msgV(a2))
	deep := set(newMsg("A"), "b", msgV(b1))
	d := set(newMsg("D"), "d", msgV(set(newMsg("D"), "s", protoreflect.ValueOfString("s"))))
	root := set(set(newMsg("Root"), "d", msgV(d)), "a", msgV(deep))
	list := root.Mutable(types.ByName("Root").Fields().ByName("cs")).List()
	list.Append(msgV(c()))
	mp := root.Mutable(types.ByName("Root").Fields().ByName("m")).Map()
	mp.Set(protoreflect.ValueOfString("k").MapKey(), msgV(c()))
	want := "Root.a.b.a.b.c.x test.C.x; Root.a.b.a.b.c.e test.E.OLD; Root.cs[0].x test.C.x; Root.cs[0].e test.E.OLD; Root.m[k].x test.C.x; Root.m[k].e test.E.OLD"
	render := func(fs []fidelity.Finding) string {
		var out []string
		for _, f := range fs {
			if f.Reason != fidelity.ReasonDeprecated || !strings.Contains(f.Message, " is deprecated in Envoy's API") {
				t.Errorf("finding %+v", f)
			}
			out = append(out, f.Path+" "+f.Field)
		}
		return strings.Join(out, "; ")
	}
	p := profile.MustGet(profile.Envoy)
	if got := render(fidelity.Check(p, root)); got != want {
		t.Fatalf("without a Memo: %s, want %s", got, want)
	}
	// The Memo meets the types first from D (nothing to report), then from
	// B, inside the cycle, then from the root.
	for _, first := range [][]proto.Message{{d, newMsg("B"), root}, {root}, {deep, d, root}} {
		checker := fidelity.Checker{Memo: fidelity.NewMemo(), Scratch: &fidelity.Scratch{}}
		for _, m := range first[:len(first)-1] {
			if fs := checker.Check(p, m); m == d && len(fs) != 0 {
				t.Errorf("D reports %v", fs)
			}
		}
		if got := render(checker.Check(p, root)); got != want {
			t.Errorf("after %d other checks: %s, want %s", len(first)-1, got, want)
		}
		copied := *checker.Scratch
		other := fidelity.Checker{Memo: checker.Memo, Scratch: &copied}
		if got := render(other.Check(p, deep)); got != "A.b.a.b.c.x test.C.x; A.b.a.b.c.e test.E.OLD" {
			t.Errorf("through a copied Scratch: %s", got)
		}
	}
}

// TestMemoIsSharedAcrossGoroutines: checks on one Memo from several
// goroutines, each with its own Scratch, find what a check alone finds: a
// not-implemented field five messages deep in a route table (HedgePolicy
// under a route's action), next to route tables that do not have it.
func TestMemoIsSharedAcrossGoroutines(t *testing.T) {
	route := func(hedge bool) *routev3.RouteConfiguration {
		a := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}
		if hedge {
			a.HedgePolicy = &routev3.HedgePolicy{InitialRequests: wrapperspb.UInt32(2)}
		}
		return &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "v", Domains: []string{"*"}, Routes: []*routev3.Route{{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: &routev3.Route_Route{Route: a}}}}}}
	}
	p := profile.MustGet(profile.Envoy)
	want := fmt.Sprint(fidelity.Check(p, route(true)))
	if !strings.Contains(want, "RouteConfiguration.virtual_hosts[0].routes[0].route.hedge_policy.initial_requests: envoy.config.route.v3.HedgePolicy.initial_requests is marked [#not-implemented-hide:]") {
		t.Fatalf("alone: %s", want)
	}
	memo := fidelity.NewMemo()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checker := fidelity.Checker{Memo: memo, Scratch: &fidelity.Scratch{}}
			for i := range 20 {
				if fs := checker.Check(p, route(false)); len(fs) != 0 {
					t.Errorf("goroutine %d: route table without a hedge policy: %v", g, fs)
				}
				if got := fmt.Sprint(checker.Check(p, route(true))); got != want {
					t.Errorf("goroutine %d, check %d: %s, want %s", g, i, got, want)
				}
			}
		}()
	}
	wg.Wait()
}
