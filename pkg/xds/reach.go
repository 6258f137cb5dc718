package xds

import (
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
