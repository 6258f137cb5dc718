package xds

import (
	"google.golang.org/protobuf/proto"
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
}

// NewUnpacked returns an empty Unpacked whose Validate and HasSecret walks
// are pruned by r (which may be nil: nothing pruned). r usually outlives
// many Unpacked values.
func NewUnpacked(r *Reach) *Unpacked {
	u := &Unpacked{r: r}
	u.few = u.buf[:0]
	return u
}

// Unpack returns the message packed in a, as a.UnmarshalNew does, decoding
// it only the first time.
func (u *Unpacked) Unpack(a *anypb.Any) (proto.Message, error) {
	if u == nil {
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
	e = unpackedAny{a: a, typeURL: a.GetTypeUrl(), value: a.GetValue(), msg: msg, err: err}
	switch {
	case slot >= 0:
		u.few[slot] = e
	case len(u.few) < maxFew: // many is still empty
		u.few = append(u.few, e)
	default:
		if u.many == nil {
			u.many = map[*anypb.Any]unpackedAny{}
		}
		u.many[a] = e
	}
	return msg, err
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Validate is [Validate], decoding each Any through u and pruned by u's
// Reach.
func (u *Unpacked) Validate(m proto.Message) error { return validate(m, u, u.reach()) }

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
