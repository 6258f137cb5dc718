package xds

import (
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The walks of Validate and HasSecret only act at an Any (and HasSecret
// at a DataSource), so a field whose message type can hold neither, at any
// depth, is not descended into: most of a filter's route table (matchers,
// strings, durations) is skipped, and the result is the same, since
// nothing there could be found. Whether a type can hold one depends on
// its descriptor only, so it is worked out once per type and kept for the
// process, like the descriptors themselves.

// reach memoizes, per message descriptor, whether a message of that type
// can hold a message one of the targets names, at any depth.
type reach struct {
	targets map[protoreflect.FullName]bool
	memo    sync.Map // protoreflect.MessageDescriptor -> bool
}

var (
	anyReach    = &reach{targets: map[protoreflect.FullName]bool{"google.protobuf.Any": true}}
	secretReach = &reach{targets: map[protoreflect.FullName]bool{"google.protobuf.Any": true, "envoy.config.core.v3.DataSource": true}}
)

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
	if r.targets[d.FullName()] {
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
