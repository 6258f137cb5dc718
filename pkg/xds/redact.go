package xds

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Redacted replaces a secret in redacted output.
const Redacted = "<redacted>"

// Redact returns a copy of m in which every inline secret is replaced by
// "<redacted>": the inline string or bytes of each DataSource held in a
// field whose name says it is a credential (auth_password,
// downstream_auth_passwords, a token, a secret, a TLS private key or
// session ticket keys), including inside Any.
// Redis passwords travel in redis_proxy's downstream auth and in the
// cluster's RedisProtocolOptions this way.
//
// Config must reach Envoy with its secrets, so only what is shown to
// people is redacted: logs, debug dumps, `aeraki render` output. m itself
// is never modified.
func Redact(m proto.Message) proto.Message {
	if m == nil {
		return nil
	}
	out := proto.Clone(m)
	redact(out.ProtoReflect(), true, nil, nil)
	return out
}

// HasSecret reports whether Redact would change m (an inline secret in a
// credential field, inside Any too), without copying it: what decides
// that an EnvoyFilter or a proxy's config may only be served over TLS.
func HasSecret(m proto.Message) bool {
	return m != nil && redact(m.ProtoReflect(), false, nil, nil)
}

// redact reports whether msg holds a secret to redact, and with apply
// rewrites msg in place (without, it stops at the first one). Without
// apply, Any values are decoded through u (which may be nil); with apply
// u must be nil, since the decoded message is rewritten. Fields are pruned
// by r (which may be nil).
func redact(msg protoreflect.Message, apply bool, u *Unpacked, r *Reach) bool {
	w := r.redaction()
	w.apply, w.u, w.r = apply, u, r
	found := w.message(msg, nil)
	r.redacted(w)
	return found
}

// redaction returns an idle redact walk: one r kept, or a new one.
func (r *Reach) redaction() *redaction {
	if r != nil {
		if w, ok := r.redactions.Get().(*redaction); ok {
			return w
		}
	}
	w := &redaction{}
	w.each = w.field
	return w
}

// redacted keeps w, its walk over, for the next walk through r.
func (r *Reach) redacted(w *redaction) {
	if r == nil {
		return
	}
	w.u, w.r, w.changed = nil, nil, false
	r.redactions.Put(w)
}

// redaction is one redact walk. Its state lives here rather than in
// closures made per message (they were half the walk's allocations):
// changed is whether the message being ranged over held a secret so far,
// saved and restored around each nested message.
type redaction struct {
	apply   bool
	u       *Unpacked
	r       *Reach
	changed bool
	each    func(protoreflect.FieldDescriptor, protoreflect.Value) bool // w.field, made once
}

// message reports whether msg holds a secret (and with apply redacts it);
// from is the plan step msg was met in (nil: none).
func (w *redaction) message(msg protoreflect.Message, from *step) bool {
	if a, ok := msg.Interface().(*anypb.Any); ok {
		inner, err := w.u.Unpack(a)
		if err != nil || !w.message(inner.ProtoReflect(), nil) {
			return false
		}
		if !w.apply {
			return true
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(inner)
		if err != nil {
			return false
		}
		a.Value = b
		return true
	}
	outer := w.changed
	w.changed = false
	if p := w.r.secretPlan(msg, from); p != nil {
		// The fields that can hold an Any or a DataSource, asked for one
		// by one (reach.go); without apply, up to the first secret.
		for i := range p.steps {
			st := &p.steps[i]
			if val, ok := st.has(msg); ok {
				w.descend(st.fd, val, st.secret, st)
				if !w.apply && w.changed {
					break
				}
			}
		}
	} else {
		msg.Range(w.each)
	}
	changed := w.changed
	w.changed = outer
	return changed
}

func (w *redaction) field(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	if fd.Message() == nil {
		return true
	}
	if elem := fd.Message(); fd.IsMap() {
		if elem = fd.MapValue().Message(); elem == nil || !w.r.secretHolds(elem) {
			return true
		}
	} else if !w.r.secretHolds(elem) {
		return true // no Any nor DataSource below (reach.go)
	}
	w.descend(fd, v, secretField(fd.Name()), nil)
	return w.apply || !w.changed
}

// descend walks the value v of message field fd, which may hold an Any or
// a DataSource; secret says fd's name is a credential's, st is fd's step
// in a plan (nil: ranged over).
func (w *redaction) descend(fd protoreflect.FieldDescriptor, v protoreflect.Value, secret bool, st *step) {
	switch {
	case fd.IsList():
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			w.visit(l.Get(i).Message(), secret, st)
		}
	case fd.IsMap():
		v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
			w.visit(mv.Message(), secret, st)
			return true
		})
	default:
		w.visit(v.Message(), secret, st)
	}
}

// visit is one message value of a field; secret says the field's name is
// a credential's, which makes a DataSource in it a secret.
func (w *redaction) visit(m protoreflect.Message, secret bool, st *step) {
	if w.changed && !w.apply {
		return
	}
	if secret {
		if ds, ok := m.Interface().(*corev3.DataSource); ok {
			w.changed = redactSource(ds, w.apply) || w.changed
			return
		}
	}
	w.changed = w.message(m, st) || w.changed
}

func secretField(name protoreflect.Name) bool {
	n := string(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token") ||
		strings.Contains(n, "private_key") || n == "session_ticket_keys" || n == "keys"
}

func redactSource(ds *corev3.DataSource, apply bool) bool {
	switch sp := ds.Specifier.(type) {
	case *corev3.DataSource_InlineString:
		if !apply {
			return sp.InlineString != Redacted // redacting "<redacted>" changes nothing
		}
	case *corev3.DataSource_InlineBytes:
	default:
		return false
	}
	if apply {
		ds.Specifier = &corev3.DataSource_InlineString{InlineString: Redacted}
	}
	return true
}
