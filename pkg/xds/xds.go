package xds

import (
	"errors"
	"fmt"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// MustAny packs m into an Any. Packing a non-nil generated message cannot
// fail, so a failure is a programming error and panics.
//
// The bytes are encoded deterministically (map entries sorted): a message
// with a map (a Struct, filter metadata, typed protocol options) would
// otherwise pack to different bytes on every build, so a rebuilt proxy
// whose config did not change would get a new content revision and be
// pushed again, and a delta client would receive resources that did not
// change.
func MustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true})
	if err != nil {
		panic(fmt.Sprintf("xds: cannot pack %T: %v", m, err))
	}
	return a
}

// TypedConfig wraps m as a named TypedExtensionConfig, the shape Envoy's
// matchers, codecs and generic_proxy filters are configured with.
func TypedConfig(name string, m proto.Message) *corev3.TypedExtensionConfig {
	return &corev3.TypedExtensionConfig{Name: name, TypedConfig: MustAny(m)}
}

// MatcherConfig wraps m as a named cncf/xds TypedExtensionConfig, the
// type the unified matcher API (inputs and actions) uses.
func MatcherConfig(name string, m proto.Message) *xdscore.TypedExtensionConfig {
	return &xdscore.TypedExtensionConfig{Name: name, TypedConfig: MustAny(m)}
}

// NetworkFilter wraps m as a listener network filter with the given name.
func NetworkFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: MustAny(m)}}
}

// TypeURL returns the type URL of m, as used in Any and in xDS requests.
func TypeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

type validator interface{ ValidateAll() error }

// Validate runs the generated ValidateAll of m and of every message packed
// in an Any anywhere inside it, and returns all the errors found, each
// prefixed with the path of the Any it came from. An Any whose type is not
// linked into the binary is an error: Envoy would reject it too, unless it
// is an extension we do not know, which aeraki never emits.
func Validate(m proto.Message) error {
	var errs []error
	walkNested(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()), &errs, true)
	return errors.Join(errs...)
}

// walkChildren visits the message fields of msg; when self is true msg
// itself is validated first (it came out of an Any).
func walkChildren(msg protoreflect.Message, path string, errs *[]error, self bool) {
	if self {
		if v, ok := msg.Interface().(validator); ok {
			if err := v.ValidateAll(); err != nil {
				*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkNested(l.Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), errs, false)
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walkNested(mv.Message(), fmt.Sprintf("%s[%v]", name, k.Interface()), errs, false)
				return true
			})
		default:
			walkNested(v.Message(), name, errs, false)
		}
		return true
	})
}

// walkNested descends without re-running ValidateAll on plain nested
// messages (the parent's ValidateAll already covered them) but unpacks
// every Any it meets.
func walkNested(msg protoreflect.Message, path string, errs *[]error, top bool) {
	if a, ok := msg.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			if errors.Is(err, protoregistry.NotFound) {
				*errs = append(*errs, fmt.Errorf("%s: unknown type %s", path, a.GetTypeUrl()))
			} else {
				*errs = append(*errs, fmt.Errorf("%s: cannot decode %s: %w", path, a.GetTypeUrl(), err))
			}
			return
		}
		walkChildren(inner.ProtoReflect(), path+"<"+string(inner.ProtoReflect().Descriptor().Name())+">", errs, true)
		return
	}
	walkChildren(msg, path, errs, top)
}
