package protofield_test

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aeraki-ng/aeraki/internal/protofield"
)

// TestFieldsReadWhatProtoreflectReads: a singular message field, a list
// of messages and a oneof's message member read through the struct are
// set exactly when Has says so and give Get's message (a oneof's nil
// message too); a map goes through protoreflect; a dynamic message has
// no struct to read.
func TestFieldsReadWhatProtoreflectReads(t *testing.T) {
	fds := (&listenerv3.Filter{}).ProtoReflect().Descriptor().Fields()
	typed := fds.ByName("typed_config")
	discovery := fds.ByName("config_discovery")
	lfds := (&listenerv3.Listener{}).ProtoReflect().Descriptor().Fields()
	chains, meta := lfds.ByName("filter_chains"), lfds.ByName("metadata")
	for _, f := range []*listenerv3.Filter{
		{}, {ConfigType: &listenerv3.Filter_TypedConfig{}}, {ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "x"}}},
		{ConfigType: &listenerv3.Filter_ConfigDiscovery{}},
	} {
		m := f.ProtoReflect()
		goType, fields := protofield.Fields(m.Type(), []protoreflect.FieldDescriptor{typed, discovery})
		sv, ok := protofield.Struct(m, goType)
		if !ok {
			t.Fatal("a generated Filter is not read through its struct")
		}
		for i, fd := range []protoreflect.FieldDescriptor{typed, discovery} {
			if fields[i].How != protofield.Oneof {
				t.Fatalf("%s read %v", fd.Name(), fields[i].How)
			}
			got, set := fields[i].Message(sv)
			if set != m.Has(fd) || (set && got.Interface() != m.Get(fd).Message().Interface()) {
				t.Errorf("%v: %s set %v (%v), Has %v", f, fd.Name(), set, got, m.Has(fd))
			}
		}
	}
	l := &listenerv3.Listener{FilterChains: []*listenerv3.FilterChain{nil, {}}}
	goType, fields := protofield.Fields(l.ProtoReflect().Type(), []protoreflect.FieldDescriptor{chains, meta, lfds.ByName("name")})
	sv, _ := protofield.Struct(l.ProtoReflect(), goType)
	if fields[0].How != protofield.List || fields[1].How != protofield.Pointer || fields[2].How != protofield.Reflect {
		t.Fatalf("fields read %v", fields)
	}
	if got := fields[0].List(sv); got.Len() != 2 || protofield.MessageOf(got.Index(0)).IsValid() || !protofield.MessageOf(got.Index(1)).IsValid() {
		t.Errorf("the chains read %v", got)
	}
	if _, set := fields[1].Message(sv); set {
		t.Errorf("unset metadata read as set")
	}
	dyn := dynamicpb.NewMessage(l.ProtoReflect().Descriptor())
	if goType, _ := protofield.Fields(dyn.Type(), []protoreflect.FieldDescriptor{chains}); goType != nil {
		t.Errorf("a dynamic message has a struct to read: %v", goType)
	}
}
