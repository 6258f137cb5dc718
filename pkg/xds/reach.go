package xds

import (
	"reflect"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aeraki-ng/aeraki/internal/protofield"
)

// Reach lets the walks of Validate and HasSecret skip what cannot matter
// to them. They only act at an Any (and HasSecret at a DataSource), so a
// field whose message type can hold neither, at any depth, need not be
// descended into: most of a filter's route table (matchers, strings,
// durations) is skipped, and the result is the same, since nothing there
// could be found. Whether a type can hold one depends on its descriptor
// only, so a Reach works it out once per type and keeps it for its own
// life: the translator makes one in its New and walks every unit it builds
// with it, so the descriptor graph is explored once per process, not once
// per walk.
//
// A Reach is safe for concurrent use. A nil *Reach prunes nothing, as
// [Validate] and [HasSecret] do: for one walk, working the types out would
// cost more than it saves.
type Reach struct {
	anys    reach // types that can hold an Any
	secrets reach // types that can hold an Any or a DataSource
	// walks are idle Validate walks (*validation), whose stacks are
	// reused by the next walk rather than made for each unit.
	walks sync.Pool
	// redactions are idle HasSecret walks (*redaction), likewise.
	redactions sync.Pool
	// unpacked are released Unpacked values (Reach.Unpacked), empty.
	unpacked sync.Pool
	// anyPlans and secretPlans are the plans (the fields to descend
	// into) of the types Validate and HasSecret walks met.
	anyPlans, secretPlans plans
	// typeURLs are the type URLs of the messages packed (Unpacked.Pack),
	// by full name: one string per type, not one per Any.
	typeURLs sync.Map
}

// typeURL is the type URL of messages of type d, as anypb.MarshalFrom
// writes it.
func (r *Reach) typeURL(d protoreflect.MessageDescriptor) string {
	if r == nil {
		return "type.googleapis.com/" + string(d.FullName())
	}
	if u, ok := r.typeURLs.Load(d.FullName()); ok {
		return u.(string)
	}
	u := "type.googleapis.com/" + string(d.FullName())
	r.typeURLs.Store(d.FullName(), u)
	return u
}

// NewReach returns an empty Reach.
func NewReach() *Reach {
	return &Reach{secrets: reach{dataSource: true}}
}

// Validate is [Validate] with pruned walks; r may be nil.
func (r *Reach) Validate(m proto.Message) error { return validate(m, nil, r) }

// HasSecret is [HasSecret] with pruned walks; r may be nil.
func (r *Reach) HasSecret(m proto.Message) bool {
	return m != nil && redact(m.ProtoReflect(), false, nil, r)
}

// anyHolds reports whether a message of type d may hold an Any; with a
// nil r, always.
func (r *Reach) anyHolds(d protoreflect.MessageDescriptor) bool {
	return r == nil || r.anys.holds(d)
}

// secretHolds reports whether a message of type d may hold an Any or a
// DataSource; with a nil r, always.
func (r *Reach) secretHolds(d protoreflect.MessageDescriptor) bool {
	return r == nil || r.secrets.holds(d)
}

// reach memoizes, per message descriptor, whether a message of that type
// can hold an Any (or, with dataSource, an envoy.config.core.v3.DataSource),
// at any depth.
type reach struct {
	dataSource bool
	memo       sync.Map // protoreflect.MessageDescriptor -> bool
}

func (r *reach) target(n protoreflect.FullName) bool {
	return n == "google.protobuf.Any" || (r.dataSource && n == "envoy.config.core.v3.DataSource")
}

// holds reports whether a message of type d can hold a target.
func (r *reach) holds(d protoreflect.MessageDescriptor) bool {
	if v, ok := r.memo.Load(d); ok {
		return v.(bool)
	}
	return r.compute(d, map[protoreflect.MessageDescriptor]bool{})
}

// compute works d out depth first. A type met again while it is being
// worked out (a recursive type) counts as holding a target: a cycle can
// only make the answer "yes" where it is "no", which walks more, never
// less.
func (r *reach) compute(d protoreflect.MessageDescriptor, visiting map[protoreflect.MessageDescriptor]bool) bool {
	if v, ok := r.memo.Load(d); ok {
		return v.(bool)
	}
	if r.target(d.FullName()) {
		r.memo.Store(d, true)
		return true
	}
	if visiting[d] {
		return true
	}
	visiting[d] = true
	defer delete(visiting, d)
	holds := false
	fields := d.Fields()
	for i := 0; i < fields.Len() && !holds; i++ {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if m := fd.Message(); m != nil && r.compute(m, visiting) {
			holds = true
		}
	}
	r.memo.Store(d, holds)
	return holds
}

// A plan is the fields of one message type a pruned walk descends into
// (those whose message type can hold what it looks for), in the order
// Range visits them, so that the walk asks the message for these fields
// only: Range gets every populated field's value (names, enums, numbers),
// which cost a walk more than the fields it descends into. A type with
// extension ranges has no plan (ranged): its walks Range, which visits
// extension fields too.
type plan struct {
	ranged bool
	steps  []step
	// goType, when set, is the generated Go type (a pointer to struct)
	// whose steps' fields are read through their struct fields
	// (protofield), for a message of exactly that type: protoreflect's
	// accessors look a pointer type up in a shared map for each read,
	// which was most of what a walk cost.
	goType reflect.Type
}

// step is one field of a plan. A field of a oneof is visited when it is
// the one set (Has), as Range visits it, even when its message is nil.
type step struct {
	fd     protoreflect.FieldDescriptor
	secret bool // the field's name is a credential's (secretField)
	// single is a singular message field outside a oneof: set exactly
	// when Get gives a valid message, so Has need not be asked.
	single bool
	// child is the plan of the last message type met in this field (one
	// for a generated parent), so that the walk finds it without a look
	// up by type.
	child atomic.Pointer[typedPlan]
	// direct is how the field is read in a plan with a goType.
	direct protofield.Field
}

// typedPlan is a message type's plan (nil: it is ranged over).
type typedPlan struct {
	mt protoreflect.MessageType
	p  *plan
}

// has reports whether the step's field is set in msg, and its value.
func (st *step) has(msg protoreflect.Message) (protoreflect.Value, bool) {
	if st.single {
		v := msg.Get(st.fd)
		return v, v.Message().IsValid()
	}
	if !msg.Has(st.fd) {
		return protoreflect.Value{}, false
	}
	return msg.Get(st.fd), true
}

// childOf is the plan of m, a message met in field st (nil: at the root
// or inside an Any), for the targets of rc; nil when it is ranged over.
func (ps *plans) childOf(st *step, rc *reach, m protoreflect.Message) *plan {
	if st == nil {
		return ps.of(rc, m)
	}
	mt := m.Type()
	if c := st.child.Load(); c != nil && c.mt == mt {
		return c.p
	}
	p := ps.of(rc, m)
	st.child.Store(&typedPlan{mt: mt, p: p})
	return p
}

// plans memoizes the plans of message types, for one reach.
type plans struct {
	memo sync.Map // protoreflect.MessageType -> *plan
}

// anyPlan is the plan of m's type for Validate, m met in field from (nil:
// at the root or inside an Any), worked out the first time; nil when the
// walk must Range (no Reach, or a type with extension ranges).
func (r *Reach) anyPlan(m protoreflect.Message, from *step) *plan {
	if r == nil {
		return nil
	}
	return r.anyPlans.childOf(from, &r.anys, m)
}

// secretPlan is anyPlan for HasSecret.
func (r *Reach) secretPlan(m protoreflect.Message, from *step) *plan {
	if r == nil {
		return nil
	}
	return r.secretPlans.childOf(from, &r.secrets, m)
}

// of is the plan of m's type for the targets of rc, or nil for Range.
func (ps *plans) of(rc *reach, m protoreflect.Message) *plan {
	mt := m.Type()
	if p, ok := ps.memo.Load(mt); ok {
		if p := p.(*plan); !p.ranged {
			return p
		}
		return nil
	}
	p := makePlan(mt, rc)
	ps.memo.Store(mt, p)
	if p.ranged {
		return nil
	}
	return p
}

// makePlan works out the plan of type mt for the targets of rc. The order
// of its steps is the one Range gives a message of the type: one with
// each of the plan's fields set (a member of each oneof) is ranged over
// once, so that the walks meet the fields in the order they met them
// ranging, and an error list (Validate) reads the same. Anything amiss
// (a field that cannot be set) leaves the type to Range.
func makePlan(mt protoreflect.MessageType, rc *reach) (p *plan) {
	d := mt.Descriptor()
	if d.ExtensionRanges().Len() > 0 {
		return &plan{ranged: true}
	}
	defer func() {
		if recover() != nil {
			p = &plan{ranged: true}
		}
	}()
	byGroup := map[protoreflect.Descriptor][]protoreflect.FieldDescriptor{} // a field, or a oneof, to its planned fields
	m := mt.New()
	fields := d.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		elem := fd.Message()
		if fd.IsMap() {
			elem = fd.MapValue().Message()
		}
		if elem == nil || !rc.holds(elem) {
			continue
		}
		var group protoreflect.Descriptor = fd
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			group = od
		}
		if len(byGroup[group]) == 0 {
			setOne(m, fd)
		}
		byGroup[group] = append(byGroup[group], fd)
	}
	p = &plan{}
	seen := 0
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		var group protoreflect.Descriptor = fd
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			group = od
		}
		seen++
		for _, f := range byGroup[group] {
			p.steps = append(p.steps, step{fd: f, secret: secretField(f.Name()), single: group == f && !f.IsList() && !f.IsMap()})
		}
		return true
	})
	if seen != len(byGroup) {
		return &plan{ranged: true}
	}
	fds := make([]protoreflect.FieldDescriptor, len(p.steps))
	for i := range p.steps {
		fds[i] = p.steps[i].fd
	}
	if goType, fields := protofield.Fields(mt, fds); goType != nil {
		p.goType = goType
		for i := range p.steps {
			p.steps[i].direct = fields[i]
		}
	}
	return p
}

// setOne populates message field fd of m: an empty message, a list of
// one, a map of one entry.
func setOne(m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	switch {
	case fd.IsList():
		l := m.Mutable(fd).List()
		l.Append(l.NewElement())
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		mp.Set(fd.MapKey().Default().MapKey(), mp.NewValue())
	default:
		m.Mutable(fd)
	}
}
