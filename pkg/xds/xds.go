package xds

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aeraki-ng/aeraki/internal/protofield"
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
func Validate(m proto.Message) error { return validate(m, nil, nil) }

// validate is one walk: Any values decoded through u, fields pruned by r
// (either may be nil).
func validate(m proto.Message, u *Unpacked, r *Reach) error {
	_, err := validateSecret(m, u, r, false)
	return err
}

// validateSecret is validate, and with secrets also HasSecret in the same
// walk: it then descends into the fields HasSecret descends into (which
// include every field that can hold an Any: where only a DataSource can
// be, no Any is met, so the errors are the same), and reports whether a
// credential field holds an inline secret, as HasSecret does.
func validateSecret(m proto.Message, u *Unpacked, r *Reach, secrets bool) (bool, error) {
	v := r.walk()
	v.u, v.r, v.errs, v.stack = u, r, v.errs[:0], v.stack[:0]
	v.secrets, v.secret = secrets, false
	v.stack = append(v.stack, pathSegment{s: string(m.ProtoReflect().Descriptor().Name())})
	v.nested(m.ProtoReflect(), true, nil)
	err := errors.Join(v.errs...)
	secret := v.secret
	r.done(v)
	return secret, err
}

// walk returns an idle Validate walk: one r kept, or a new one.
func (r *Reach) walk() *validation {
	if r != nil {
		if v, ok := r.walks.Get().(*validation); ok {
			return v
		}
	}
	v := &validation{stack: make([]pathSegment, 0, 16)}
	v.each = v.field
	return v
}

// done keeps v, its walk over, for the next walk through r; v keeps
// nothing of the config it walked.
func (r *Reach) done(v *validation) {
	if r == nil {
		return
	}
	clear(v.errs)
	clear(v.stack[:cap(v.stack)])
	v.u, v.r, v.errs, v.stack = nil, nil, v.errs[:0], v.stack[:0]
	v.secrets, v.secret = false, false
	r.walks.Put(v)
}

// validation is one Validate walk. The path of where it is is kept as a
// stack of segments and rendered only for an error: building a string
// per field visited was a third of the walk's allocations.
type validation struct {
	u     *Unpacked
	r     *Reach
	errs  []error
	stack []pathSegment
	each  func(protoreflect.FieldDescriptor, protoreflect.Value) bool // v.field, made once
	// secrets is a walk that also looks for secrets (validateSecret);
	// secret is whether it found one.
	secrets, secret bool
}

// pathSegment is ".name" (sep '.'), "[i]" ('['), "[key]" ('k') or
// "<Type>" ('<'); the first segment is the root's name.
type pathSegment struct {
	sep   byte
	s     string
	index int
	key   protoreflect.MapKey
}

func (v *validation) push(sg pathSegment) { v.stack = append(v.stack, sg) }
func (v *validation) pop()                { v.stack = v.stack[:len(v.stack)-1] }

func (v *validation) path() string {
	var b strings.Builder
	for _, sg := range v.stack {
		switch sg.sep {
		case '.':
			b.WriteString(".")
			b.WriteString(sg.s)
		case '[':
			fmt.Fprintf(&b, "[%d]", sg.index)
		case 'k':
			fmt.Fprintf(&b, "[%v]", sg.key.Interface())
		case '<':
			b.WriteString("<")
			b.WriteString(sg.s)
			b.WriteString(">")
		default:
			b.WriteString(sg.s)
		}
	}
	return b.String()
}

// children visits the message fields of msg, met in field from (nil: at
// the root, or inside an Any); when self is true msg itself is validated
// first (it came out of an Any).
func (v *validation) children(msg protoreflect.Message, self bool, from *step) {
	if self {
		if val, ok := msg.Interface().(validator); ok {
			if err := val.ValidateAll(); err != nil {
				v.errs = append(v.errs, fmt.Errorf("%s: %w", v.path(), err))
			}
		}
	}
	p := (*plan)(nil)
	if v.secrets {
		p = v.r.secretPlan(msg, from)
	} else {
		p = v.r.anyPlan(msg, from)
	}
	if p != nil {
		if sv, ok := protofield.Struct(msg, p.goType); ok {
			v.direct(msg, sv, p)
			return
		}
		// The fields that can hold an Any (or, looking for secrets, a
		// DataSource), asked for one by one (reach.go).
		for i := range p.steps {
			st := &p.steps[i]
			if val, ok := st.has(msg); ok {
				v.descend(st.fd, val, st)
			}
		}
		return
	}
	msg.Range(v.each)
}

func (v *validation) field(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
	if fd.Message() == nil {
		return true
	}
	holds := v.r.anyHolds
	if v.secrets {
		holds = v.r.secretHolds
	}
	if elem := fd.Message(); fd.IsMap() {
		if elem = fd.MapValue().Message(); elem == nil || !holds(elem) {
			return true
		}
	} else if !holds(elem) {
		return true // no Any below (reach.go)
	}
	v.descend(fd, val, nil)
	return true
}

// direct visits the fields of p's steps in msg, a generated message whose
// struct is sv, reading them through sv's fields (protofield) as
// children reads them through protoreflect: the same fields set, the same
// messages (a nil one in a list or a oneof included), in the same order.
func (v *validation) direct(msg protoreflect.Message, sv reflect.Value, p *plan) {
	for i := range p.steps {
		st := &p.steps[i]
		switch st.direct.How {
		case protofield.Pointer, protofield.Oneof:
			if m, ok := st.direct.Message(sv); ok {
				v.one(st, m)
			}
		case protofield.List:
			l := st.direct.List(sv)
			n := l.Len()
			if n == 0 {
				continue
			}
			secret := v.secrets && st.secret
			v.push(pathSegment{sep: '.', s: string(st.fd.Name())})
			for j := 0; j < n; j++ {
				v.push(pathSegment{sep: '[', index: j})
				v.value(protofield.MessageOf(l.Index(j)), secret, st)
				v.pop()
			}
			v.pop()
		default:
			if msg.Has(st.fd) {
				v.descend(st.fd, msg.Get(st.fd), st)
			}
		}
	}
}

// one walks the message m of singular field st.
func (v *validation) one(st *step, m protoreflect.Message) {
	v.push(pathSegment{sep: '.', s: string(st.fd.Name())})
	v.value(m, v.secrets && st.secret, st)
	v.pop()
}

// descend walks the value val of message field fd, which may hold an Any
// (or, looking for secrets, a DataSource); st is fd's step in a plan
// (nil: ranged over).
func (v *validation) descend(fd protoreflect.FieldDescriptor, val protoreflect.Value, st *step) {
	secret := false
	if v.secrets {
		if st != nil {
			secret = st.secret
		} else {
			secret = secretField(fd.Name())
		}
	}
	v.push(pathSegment{sep: '.', s: string(fd.Name())})
	switch {
	case fd.IsList():
		l := val.List()
		for i := 0; i < l.Len(); i++ {
			v.push(pathSegment{sep: '[', index: i})
			v.value(l.Get(i).Message(), secret, st)
			v.pop()
		}
	case fd.IsMap():
		if fd.MapValue().Message() != nil {
			val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				v.push(pathSegment{sep: 'k', key: k})
				v.value(mv.Message(), secret, st)
				v.pop()
				return true
			})
		}
	default:
		v.value(val.Message(), secret, st)
	}
	v.pop()
}

// value walks one message value of a field; secret says the field's name
// is a credential's, which makes a DataSource in it a secret (a
// DataSource holds no Any: there is nothing to validate below it).
func (v *validation) value(msg protoreflect.Message, secret bool, st *step) {
	if secret {
		if ds, ok := msg.Interface().(*corev3.DataSource); ok {
			v.secret = redactSource(ds, false) || v.secret
			return
		}
	}
	v.nested(msg, false, st)
}

// nested descends without re-running ValidateAll on plain nested
// messages (the parent's ValidateAll already covered them) but unpacks
// every Any it meets; from is the step msg was met in (nil: none).
func (v *validation) nested(msg protoreflect.Message, top bool, from *step) {
	if a, ok := msg.Interface().(*anypb.Any); ok {
		inner, err := v.u.Unpack(a)
		if err != nil {
			if errors.Is(err, protoregistry.NotFound) {
				v.errs = append(v.errs, fmt.Errorf("%s: unknown type %s", v.path(), a.GetTypeUrl()))
			} else {
				v.errs = append(v.errs, fmt.Errorf("%s: cannot decode %s: %w", v.path(), a.GetTypeUrl(), err))
			}
			return
		}
		v.push(pathSegment{sep: '<', s: string(inner.ProtoReflect().Descriptor().Name())})
		v.children(inner.ProtoReflect(), true, nil)
		v.pop()
		return
	}
	v.children(msg, top, from)
}
