package xds

import (
	"bytes"
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Unpacked decodes the messages packed in Any values, each Any once, for
// checks that walk the same config one after another: the translator runs
// the validation gate ([Unpacked.Validate]), the fidelity gate and the
// secret check ([Unpacked.HasSecret]) on every filter it builds, and each
// decoded every Any it met, which was a third of their cost.
//
// An Any is known by its address, and a decoded message is reused only
// while that Any still has the type URL and the Value slice (same bytes
// at the same address, same length) it was decoded from: setting either
// field decodes it again. The decoded messages are shared by the callers
// and must not be modified. Bytes changed in place inside a Value are
// not noticed, so an Unpacked should live no longer than one check of
// config nobody edits meanwhile (the translator makes one per unit
// build). It is not safe for concurrent use; a nil *Unpacked decodes every
// time, as [Validate] and [HasSecret] do.
//
// An Any made by [Unpacked.Pack] is not decoded at all: Unpack returns the
// message it was packed from.
type Unpacked struct {
	// few are the first Anys met (a unit's filters hold two or three),
	// in buf until it is full: searched in order, they cost no
	// allocation of their own; the others are in many.
	few  []unpackedAny
	buf  [maxFew]unpackedAny
	many map[*anypb.Any]unpackedAny
	r    *Reach
}

// maxFew is how many Anys an Unpacked keeps in few.
const maxFew = 8

type unpackedAny struct {
	a       *anypb.Any
	typeURL string
	value   []byte
	msg     proto.Message
	err     error
	packed  bool // msg is the message a was packed from (Pack)
}

// NewUnpacked returns an empty Unpacked whose Validate and HasSecret walks
// are pruned by r (which may be nil: nothing pruned). r usually outlives
// many Unpacked values.
func NewUnpacked(r *Reach) *Unpacked {
	u := &Unpacked{r: r}
	u.few = u.buf[:0]
	return u
}

// Unpacked returns an empty Unpacked pruned by r, one r kept (Release)
// or a new one: the translator checks every unit it builds through one,
// and making a new one per unit was a tenth of a build's allocations. r
// may be nil (then it is always new).
func (r *Reach) Unpacked() *Unpacked {
	if r != nil {
		if u, ok := r.unpacked.Get().(*Unpacked); ok {
			return u
		}
	}
	return NewUnpacked(r)
}

// Release empties u and keeps it in its Reach for the next
// [Reach.Unpacked]; u must not be used after. It keeps nothing of what it
// held: no Any, no message. Releasing a nil *Unpacked, or one without a
// Reach, does nothing.
func (u *Unpacked) Release() {
	if u == nil || u.r == nil {
		return
	}
	clear(u.buf[:])
	u.few, u.many = u.buf[:0], nil
	u.r.unpacked.Put(u)
}

// Pack packs m into an Any, as [MustAny] does, and remembers m as what the
// Any holds: Unpack of that Any returns m itself (while the Any keeps the
// type URL and the Value it was packed with, as for a decoded message), so
// the checks that share u read the message the caller built instead of
// decoding its bytes again. A plugin packs its filters this way through
// its build context (plugin.BuildContext.Pack).
//
// The checks must see what the Any's bytes decode to, so m must be that:
// it must not be modified once packed (nor anything it holds), and hold no
// nil message where decoding gives an empty one (an entry of a list or
// map, the message of a oneof). [Unpacked.Verify] checks both. A nil
// *Unpacked only packs.
func (u *Unpacked) Pack(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	u.packInto(a, m)
	return a
}

// NetworkFilter is [NetworkFilter] packing m with Pack; the filter, its
// typed_config and the Any are allocated together.
func (u *Unpacked) NetworkFilter(name string, m proto.Message) *listenerv3.Filter {
	f := &struct {
		f  listenerv3.Filter
		tc listenerv3.Filter_TypedConfig
		a  anypb.Any
	}{}
	u.packInto(&f.a, m)
	f.tc.TypedConfig = &f.a
	f.f.Name, f.f.ConfigType = name, &f.tc
	return &f.f
}

// packInto packs m into a as MustAny does (the same bytes and type URL,
// the same panic), the type URL kept by u's Reach rather than made for
// each Any, and remembers m as a's message.
func (u *Unpacked) packInto(a *anypb.Any, m proto.Message) {
	if m == nil {
		MustAny(m) // panics as MustAny does
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("xds: cannot pack %T: %v", m, err))
	}
	a.TypeUrl, a.Value = u.reach().typeURL(m.ProtoReflect().Descriptor()), b
	if u != nil {
		u.put(-1, unpackedAny{a: a, typeURL: a.TypeUrl, value: a.Value, msg: m, packed: true})
	}
}

// Verify reports the first message packed through u (Pack) whose Any it
// no longer is: re-encoded, it gives other bytes (it was modified after
// packing), or it holds a nil message that decoding its bytes would
// replace with an empty one. The conformance kit runs it on what a plugin
// packed; nil means every packed message is what its Any holds.
func (u *Unpacked) Verify() error {
	if u == nil {
		return nil
	}
	for _, e := range u.entries() {
		if !e.packed {
			continue
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e.msg)
		if err != nil {
			return fmt.Errorf("xds: packed %s no longer encodes: %w", e.typeURL, err)
		}
		if !bytes.Equal(b, e.value) || e.a.GetTypeUrl() != e.typeURL || !sameSlice(e.a.GetValue(), e.value) {
			return fmt.Errorf("xds: packed %s was modified after it was packed (its Any holds other bytes): a packed message must not change", e.typeURL)
		}
		if path := nilMessage(e.msg.ProtoReflect(), string(e.msg.ProtoReflect().Descriptor().Name())); path != "" {
			return fmt.Errorf("xds: packed %s holds a nil message at %s, which its Any's bytes decode to an empty one: set an empty message there, or leave it out", e.typeURL, path)
		}
	}
	return nil
}

// entries are u's entries: the first few in the order they were made,
// then the others.
func (u *Unpacked) entries() []unpackedAny {
	out := append([]unpackedAny(nil), u.few...)
	for _, e := range u.many {
		out = append(out, e)
	}
	return out
}

// nilMessage is the path of the first nil message m holds where encoding
// writes one (an entry of a list or map, a oneof's message), or "".
func nilMessage(m protoreflect.Message, path string) string {
	found := ""
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := path + "." + string(fd.Name())
		check := func(mv protoreflect.Message, where string) bool {
			if !mv.IsValid() {
				found = where
			} else {
				found = nilMessage(mv, where)
			}
			return found == ""
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				check(l.Get(i).Message(), fmt.Sprintf("%s[%d]", at, i))
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				return check(mv.Message(), fmt.Sprintf("%s[%v]", at, k.Interface()))
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			check(v.Message(), at)
		}
		return found == ""
	})
	return found
}

// Unpack returns the message packed in a, as a.UnmarshalNew does, decoding
// it only the first time.
func (u *Unpacked) Unpack(a *anypb.Any) (proto.Message, error) {
	if u == nil || a == nil { // a nil Any (a oneof set to one) would match an empty entry
		return a.UnmarshalNew()
	}
	slot := -1
	for i := range u.few {
		if u.few[i].a == a {
			slot = i
			break
		}
	}
	var e unpackedAny
	if slot >= 0 {
		e = u.few[slot]
	} else if u.many != nil {
		e = u.many[a]
	}
	if e.a == a && e.typeURL == a.GetTypeUrl() && sameSlice(e.value, a.GetValue()) {
		return e.msg, e.err
	}
	msg, err := a.UnmarshalNew()
	u.put(slot, unpackedAny{a: a, typeURL: a.GetTypeUrl(), value: a.GetValue(), msg: msg, err: err})
	return msg, err
}

// put keeps e, in few at slot when e's Any is there already (slot >= 0).
func (u *Unpacked) put(slot int, e unpackedAny) {
	switch {
	case slot >= 0:
		u.few[slot] = e
	case len(u.few) < maxFew && u.many == nil:
		u.few = append(u.few, e)
	default:
		if u.many == nil {
			u.many = map[*anypb.Any]unpackedAny{}
		}
		u.many[e.a] = e
	}
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Validate is [Validate], decoding each Any through u and pruned by u's
// Reach.
func (u *Unpacked) Validate(m proto.Message) error { return validate(m, u, u.reach()) }

// ValidateAndHasSecret is Validate and HasSecret of m in one walk: what
// the translator asks of every filter it builds, which walked the same
// messages twice. err is what Validate returns, secret what HasSecret
// does.
func (u *Unpacked) ValidateAndHasSecret(m proto.Message) (secret bool, err error) {
	return validateSecret(m, u, u.reach(), true)
}

// HasSecret is [HasSecret], decoding each Any through u and pruned by u's
// Reach.
func (u *Unpacked) HasSecret(m proto.Message) bool {
	return m != nil && redact(m.ProtoReflect(), false, u, u.reach())
}

func (u *Unpacked) reach() *Reach {
	if u == nil {
		return nil
	}
	return u.r
}
