package fidelity

import (
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/aeraki-ng/aeraki/internal/protofield"
)

// Memo keeps what the checker's walk needs of each message type it meets:
// per field, whether Envoy marks it not implemented or deprecated, whether
// it holds an Any, the message type's own marker, its "name" field; and
// whether a message of the type can hold anything the walk reports at any
// depth (a not-implemented or deprecated field, message or enum value, an
// Any, a Cluster, Listener or Address, which name extensions without an
// Any). The walk then reads a field's facts by index instead of looking
// its full name up in Envoy's table and its options, and skips the
// subtrees that can hold nothing it reports (most of a route table:
// matchers, strings, durations), with the same findings. What a type
// holds depends on its descriptor only, so a Memo works each type out
// once and keeps it for its own life: the translator makes one in its New
// and checks every unit with it.
//
// A Memo is safe for concurrent use. A Checker without one makes a fresh
// Memo for each Check.
type Memo struct {
	mu    sync.Mutex // held while types are worked out
	types sync.Map   // protoreflect.MessageDescriptor -> *typeInfo, complete
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{} }

// typeInfo is what the walk needs of a message type. It is not changed
// once stored in a Memo, but for direct.
type typeInfo struct {
	// skip is a type the walk does not enter (Metadata).
	skip bool
	// reports is whether a message of this type may hold something the
	// walk reports, here or below; when false the walk need not enter it.
	reports bool
	// full and marker are the type's full name and its not-implemented
	// marker, if hasMarker.
	full      string
	marker    string
	hasMarker bool
	// implicit is a type whose fields name extensions without an Any
	// (walker.implicit).
	implicit bool
	// name is the type's singular string "name" field, which names the
	// extension of its one populated singular Any field, if any.
	name protoreflect.FieldDescriptor
	// fields are the type's fields' facts, by descriptor index.
	fields []fieldInfo
	// walked are the fields whose walk is set, by field number: the walk
	// asks a message for these only, rather than Range over every
	// populated field (names, numbers) to drop most of them. ranged is a
	// type with extension ranges, whose extension fields only Range
	// visits: its messages are ranged over.
	walked []walkedField
	ranged bool
	desc   protoreflect.MessageDescriptor
	// direct is how the walked fields of the last Go type of this
	// message type met are read through its struct (protofield), worked
	// out by the walk (walker.directOf): the only part of a typeInfo set
	// after it is stored.
	direct atomic.Pointer[directInfo]
}

// directInfo is how to read a type's walked fields (by index) in messages
// of Go type goType (nil: through protoreflect), for message type mt.
type directInfo struct {
	mt     protoreflect.MessageType
	goType reflect.Type
	fields []protofield.Field
}

// walkedField is a field the walk asks a message for; single is a
// singular message field outside a oneof, set exactly when Get gives a
// valid message (so Has need not be asked).
type walkedField struct {
	fd     protoreflect.FieldDescriptor
	single bool
}

// fieldInfo is what the walk needs of a field.
type fieldInfo struct {
	full       string
	marker     string
	hasMarker  bool
	deprecated bool
	// any is a field of Any, or a map of Any values; pairable is a
	// singular (not list, not map) field of Any.
	any, pairable bool
	// child is the field's message type (a map's value type), if any.
	child *typeInfo
	// enum is the field's enum type, if any (not for maps: the walk does
	// not look at map values that are not messages).
	enum *enumInfo
	// walk is whether a populated field of this kind may report anything:
	// the field itself, an Any, or what its values may hold.
	walk bool
	// values is whether its values (elements, entries) may report.
	values bool
}

// enumInfo is what the walk needs of an enum type's values.
type enumInfo struct {
	reports bool        // some value is not implemented or deprecated
	values  []valueInfo // by descriptor index
}

type valueInfo struct {
	full       string
	marker     string
	hasMarker  bool
	deprecated bool
}

// of returns the facts of type d, working out it and every type it
// reaches that the Memo does not know yet.
func (m *Memo) of(d protoreflect.MessageDescriptor) *typeInfo {
	if ti, ok := m.types.Load(d); ok {
		return ti.(*typeInfo)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ti, ok := m.types.Load(d); ok {
		return ti.(*typeInfo)
	}
	b := builder{memo: m, types: map[protoreflect.MessageDescriptor]*typeInfo{}, enums: map[protoreflect.EnumDescriptor]*enumInfo{}}
	ti := b.typ(d)
	b.finish()
	return ti
}

// builder works out the types one Memo.of call meets for the first time.
type builder struct {
	memo  *Memo
	types map[protoreflect.MessageDescriptor]*typeInfo // new in this call
	order []*typeInfo
	enums map[protoreflect.EnumDescriptor]*enumInfo
}

func (b *builder) typ(d protoreflect.MessageDescriptor) *typeInfo {
	if ti, ok := b.memo.types.Load(d); ok {
		return ti.(*typeInfo)
	}
	if ti, ok := b.types[d]; ok {
		return ti
	}
	full := string(d.FullName())
	ti := &typeInfo{full: full, desc: d, ranged: d.ExtensionRanges().Len() > 0}
	b.types[d] = ti
	b.order = append(b.order, ti)
	if full == "envoy.config.core.v3.Metadata" {
		ti.skip = true
		return ti
	}
	ti.marker, ti.hasMarker = notImplemented[full]
	switch full {
	case "envoy.config.cluster.v3.Cluster", "envoy.config.listener.v3.Listener", "envoy.config.core.v3.Address":
		ti.implicit = true
	}
	// Extension fields are met one by one (walker.extensionField); a type
	// that can have them is always entered.
	ti.reports = ti.hasMarker || ti.implicit || d.ExtensionRanges().Len() > 0
	fds := d.Fields()
	ti.fields = make([]fieldInfo, fds.Len())
	for i := range ti.fields {
		fi := b.field(fds.Get(i))
		ti.fields[i] = fi
		ti.reports = ti.reports || fi.hasMarker || fi.deprecated || fi.any || (fi.enum != nil && fi.enum.reports)
	}
	if nameFD := fds.ByName("name"); nameFD != nil && nameFD.Kind() == protoreflect.StringKind && !nameFD.IsList() {
		ti.name = nameFD
	}
	return ti
}

// field works out a field's own facts and its value types; walk and
// values, which depend on what the value types reach, are set by finish.
func (b *builder) field(fd protoreflect.FieldDescriptor) fieldInfo {
	return fieldFacts(fd, b.typ, b.enum)
}

// fieldFacts is what a field itself says (marker, deprecation, Any,
// enum values), its message value's facts from child and its enum's
// from enum: the builder's, for the fields of a type it works out, or
// the walker's, for an extension field met while walking.
func fieldFacts(fd protoreflect.FieldDescriptor, child func(protoreflect.MessageDescriptor) *typeInfo, enum func(protoreflect.EnumDescriptor) *enumInfo) fieldInfo {
	fi := fieldInfo{full: string(fd.FullName())}
	fi.marker, fi.hasMarker = notImplemented[fi.full]
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
		fi.deprecated = true
	}
	vd := fd
	if fd.IsMap() {
		vd = fd.MapValue()
	}
	if md := vd.Message(); md != nil {
		fi.any = md.FullName() == "google.protobuf.Any"
		fi.pairable = fi.any && !fd.IsList() && !fd.IsMap()
		fi.child = child(md)
	}
	if ed := fd.Enum(); ed != nil && !fd.IsMap() {
		fi.enum = enum(ed)
	}
	return fi
}

func (b *builder) enum(ed protoreflect.EnumDescriptor) *enumInfo {
	if ei, ok := b.enums[ed]; ok {
		return ei
	}
	ei := newEnumInfo(ed)
	b.enums[ed] = ei
	return ei
}

// newEnumInfo works out the facts of enum type ed's values.
func newEnumInfo(ed protoreflect.EnumDescriptor) *enumInfo {
	vals := ed.Values()
	ei := &enumInfo{values: make([]valueInfo, vals.Len())}
	for i := range ei.values {
		ev := vals.Get(i)
		vi := valueInfo{full: string(ed.FullName()) + "." + string(ev.Name())}
		vi.marker, vi.hasMarker = notImplemented[vi.full]
		if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
			vi.deprecated = true
		}
		ei.values[i] = vi
		ei.reports = ei.reports || vi.hasMarker || vi.deprecated
	}
	return ei
}

// finish spreads reports up the fields of the new types until nothing
// changes (a type reports when a type it reaches does: recursive types
// included), sets each field's walk and values, and stores the types.
func (b *builder) finish() {
	for changed := true; changed; {
		changed = false
		for _, ti := range b.order {
			if ti.reports || ti.skip {
				continue
			}
			for i := range ti.fields {
				if c := ti.fields[i].child; c != nil && c.reports {
					ti.reports, changed = true, true
					break
				}
			}
		}
	}
	for _, ti := range b.order {
		for i := range ti.fields {
			fi := &ti.fields[i]
			fi.values = fi.any || (fi.child != nil && fi.child.reports) || (fi.enum != nil && fi.enum.reports)
			fi.walk = fi.hasMarker || fi.deprecated || fi.values
			if fi.walk {
				fd := ti.desc.Fields().Get(i)
				od := fd.ContainingOneof()
				single := fd.Message() != nil && !fd.IsList() && !fd.IsMap() && (od == nil || od.IsSynthetic())
				ti.walked = append(ti.walked, walkedField{fd: fd, single: single})
			}
		}
		slices.SortFunc(ti.walked, func(a, b walkedField) int { return int(a.fd.Number()) - int(b.fd.Number()) })
	}
	for d, ti := range b.types {
		b.memo.types.Store(d, ti)
	}
}
