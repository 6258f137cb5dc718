package translate

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// A unit's filters reach istiod as the protobuf encoding of the Structs
// their EnvoyFilter patches carry. Making those Structs (a map and a
// Value per field of every filter) and then encoding them was a third of
// a unit build, and the Structs were most of the heap a full generation
// holds, while only `aeraki render`, the debug endpoints and tests ever
// look at them. So a unit build writes the encoding straight from the
// filter (wireConv, the rules of structConv in structconv.go, emitting
// bytes instead of Values), and the Struct is decoded from those bytes
// only when someone reads the EnvoyFilter's Spec (patchValue).
//
// The bytes are those proto.Marshal (deterministic) gives for the Struct
// structOf makes: a Struct's entries in the order of their keys
// (appendSortedKeys, which the spec encoder and Go's deterministic map
// encoding share), each entry its key then its Value, every Value's kind
// written even when zero. TestStructOfMatchesTheJSONRoundTrip and
// TestStructWireMatchesRandomMessages compare the two on every golden
// filter and on random messages; what this does not handle takes the Struct
// route (errSlowPath), so the bytes are the same either way.

// structWire is the encoding of the fields of the Struct structOf makes of
// m (the content of a patch value), decoding Any values through u (nil:
// each one when met).
func structWire(m proto.Message, u *xds.Unpacked) ([]byte, error) {
	return (&wireConv{}).encode(m, u)
}

// encode is structWire with w's buffers, returning a copy of exactly the
// encoding's size.
func (w *wireConv) encode(m proto.Message, u *xds.Unpacked) ([]byte, error) {
	rm := m.ProtoReflect()
	if hasSpecialJSON(rm.Descriptor().FullName()) {
		return nil, errSlowPath
	}
	w.u, w.e.b = u, w.e.b[:0]
	defer func() { w.u = nil }()
	if err := w.messageFields(rm, ""); err != nil {
		return nil, err
	}
	return append([]byte(nil), w.e.b...), nil
}

// wireConv writes Structs' encodings with specEncoder's framing.
type wireConv struct {
	u *xds.Unpacked
	e specEncoder
	// fields are the populated fields of the messages being written, the
	// innermost last, sorted by JSON name.
	fields []wireField
	// entries are the map entries being written, innermost last.
	entries []mapEntry
	// order holds, for each message of fields, the indexes of its fields
	// in w.fields in the order they are written.
	order []int32
	// collect is w.collectField, made once: a closure handed to Range
	// for every message written was most of the allocations of a unit's
	// patch values.
	collect func(protoreflect.FieldDescriptor, protoreflect.Value) bool
	// collectMap is w.collectEntry, made once.
	collectMap func(protoreflect.MapKey, protoreflect.Value) bool
	// ofAny and dup are the collecting's state: whether the message is an
	// Any's content, and whether it has to take the Struct route (a field
	// of that content named "@type" as well, a map key not UTF-8).
	ofAny, dup bool
}

type wireField struct {
	name string
	fd   protoreflect.FieldDescriptor // nil: the "@type" of an Any's content
	v    protoreflect.Value
}

type mapEntry struct {
	key string
	v   protoreflect.Value
}

// messageFields writes m's populated fields as Struct entries, with
// "@type" when m is the content of an Any.
func (w *wireConv) messageFields(m protoreflect.Message, typeURL string) error {
	start := len(w.fields)
	if typeURL != "" {
		w.fields = append(w.fields, wireField{name: "@type"})
	}
	if w.collect == nil {
		w.collect = w.collectField
	}
	w.ofAny, w.dup = typeURL != "", false
	m.Range(w.collect) // appends to w.fields, never recurses
	if w.dup {
		w.fields = w.fields[:start]
		return errSlowPath
	}
	// The fields are sorted by name as indexes: moving the fields
	// themselves (values with pointers) was most of the sort.
	n := len(w.fields) - start
	ord := len(w.order)
	for i := range n {
		w.order = append(w.order, int32(start+i))
	}
	fields := w.fields
	slices.SortFunc(w.order[ord:], func(a, b int32) int { return strings.Compare(fields[a].name, fields[b].name) })
	defer func() { w.order = w.order[:ord] }()
	for i := range n {
		f := w.fields[w.order[ord+i]] // w.fields and w.order may grow (nested messages) but keep these parts
		if !utf8.ValidString(f.name) {
			w.fields = w.fields[:start]
			return errSlowPath
		}
		at := w.beginEntry(f.name)
		var err error
		switch {
		case f.fd == nil:
			err = w.str(typeURL)
		case f.fd.IsList():
			err = w.list(f.fd, f.v.List())
		case f.fd.IsMap():
			err = w.mapValue(f.fd, f.v.Map())
		default:
			err = w.singular(f.fd, f.v)
		}
		if err != nil {
			w.fields = w.fields[:start]
			return err
		}
		w.endEntry(at)
	}
	w.fields = w.fields[:start]
	return nil
}

// collectField adds a populated field of the message messageFields
// collects to w.fields.
func (w *wireConv) collectField(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	name := fd.JSONName()
	if w.ofAny && name == "@type" {
		w.dup = true // structOf's map would keep one of the two
		return false
	}
	w.fields = append(w.fields, wireField{name: name, fd: fd, v: v})
	return true
}

// beginEntry starts a Struct entry (key and the Value's framing); endEntry
// closes it.
func (w *wireConv) beginEntry(key string) [2]int {
	at := w.e.begin(structFields)
	w.e.b = protowire.AppendTag(w.e.b, entryKey, protowire.BytesType)
	w.e.b = protowire.AppendString(w.e.b, key)
	return [2]int{at, w.e.begin(entryValue)}
}

func (w *wireConv) endEntry(at [2]int) {
	w.e.end(at[1])
	w.e.end(at[0])
}

func (w *wireConv) list(fd protoreflect.FieldDescriptor, l protoreflect.List) error {
	at := w.e.begin(valueList)
	for i := range l.Len() {
		it := w.e.begin(listValues)
		if err := w.singular(fd, l.Get(i)); err != nil {
			return err
		}
		w.e.end(it)
	}
	w.e.end(at)
	return nil
}

func (w *wireConv) mapValue(fd protoreflect.FieldDescriptor, m protoreflect.Map) error {
	start := len(w.entries)
	if w.collectMap == nil {
		w.collectMap = w.collectEntry
	}
	w.dup = false
	m.Range(w.collectMap) // appends to w.entries, never recurses
	defer func() { w.entries = w.entries[:start] }()
	if w.dup {
		return errSlowPath
	}
	slices.SortFunc(w.entries[start:], func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
	at := w.e.begin(valueStruct)
	vd := fd.MapValue()
	for i := range len(w.entries) - start {
		en := w.entries[start+i]
		ea := w.beginEntry(en.key)
		if err := w.singular(vd, en.v); err != nil {
			return err
		}
		w.endEntry(ea)
	}
	w.e.end(at)
	return nil
}

// collectEntry adds an entry of the map mapValue collects to w.entries;
// a key that is not UTF-8 sets w.dup (protojson refuses it).
func (w *wireConv) collectEntry(k protoreflect.MapKey, v protoreflect.Value) bool {
	key := k.String()
	if !utf8.ValidString(key) {
		w.dup = true
		return false
	}
	w.entries = append(w.entries, mapEntry{key: key, v: v})
	return true
}

// The Value kinds.

func (w *wireConv) str(s string) error {
	if !utf8.ValidString(s) {
		return errSlowPath // protojson refuses it
	}
	w.e.b = protowire.AppendTag(w.e.b, valueString, protowire.BytesType)
	w.e.b = protowire.AppendString(w.e.b, s)
	return nil
}

func (w *wireConv) number(f float64) {
	w.e.b = protowire.AppendTag(w.e.b, valueNumber, protowire.Fixed64Type)
	w.e.b = protowire.AppendFixed64(w.e.b, math.Float64bits(f))
}

func (w *wireConv) boolean(b bool) {
	w.e.b = protowire.AppendTag(w.e.b, valueBool, protowire.VarintType)
	w.e.b = protowire.AppendVarint(w.e.b, protowire.EncodeBool(b))
}

func (w *wireConv) null() {
	w.e.b = protowire.AppendTag(w.e.b, valueNull, protowire.VarintType)
	w.e.b = protowire.AppendVarint(w.e.b, 0)
}

// singular writes one value of fd's kind (structConv.singular).
func (w *wireConv) singular(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		w.boolean(v.Bool())
	case protoreflect.StringKind:
		return w.str(v.String())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		w.number(float64(v.Int()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		w.number(float64(v.Uint()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return w.str(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return w.str(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind:
		return w.float(v.Float(), 32)
	case protoreflect.DoubleKind:
		return w.float(v.Float(), 64)
	case protoreflect.BytesKind:
		return w.str(base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			w.null()
			return nil
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return w.str(string(ev.Name()))
		}
		w.number(float64(v.Enum()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return w.message(v.Message())
	default:
		return errSlowPath
	}
	return nil
}

// float is floatValue's Value.
func (w *wireConv) float(f float64, bitSize int) error {
	if s, ok := jsonFloatString(f); ok {
		return w.str(s)
	}
	w.number(jsonFloat(f, bitSize))
	return nil
}

// message writes a message field, well-known types included
// (structConv.messageValue).
func (w *wireConv) message(m protoreflect.Message) error {
	name := m.Descriptor().FullName()
	if !hasSpecialJSON(name) {
		at := w.e.begin(valueStruct)
		if err := w.messageFields(m, ""); err != nil {
			return err
		}
		w.e.end(at)
		return nil
	}
	fields := m.Descriptor().Fields()
	switch name.Name() {
	case "Any":
		return w.anyValue(m)
	case "Duration":
		secs, nanos := m.Get(fields.ByNumber(1)).Int(), m.Get(fields.ByNumber(2)).Int()
		if secs < -315576000000 || secs > 315576000000 || nanos <= -1e9 || nanos >= 1e9 || (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
			return errSlowPath
		}
		sign := ""
		if secs < 0 || nanos < 0 {
			sign, secs, nanos = "-", -secs, -nanos
		}
		return w.str(trimFraction(fmt.Sprintf("%s%d.%09d", sign, secs, nanos)) + "s")
	case "Timestamp":
		secs, nanos := m.Get(fields.ByNumber(1)).Int(), m.Get(fields.ByNumber(2)).Int()
		if secs < -62135596800 || secs > 253402300799 || nanos < 0 || nanos >= 1e9 {
			return errSlowPath
		}
		return w.str(trimFraction(time.Unix(secs, nanos).UTC().Format("2006-01-02T15:04:05.000000000")) + "Z")
	case "BoolValue", "Int32Value", "Int64Value", "UInt32Value", "UInt64Value", "FloatValue", "DoubleValue", "StringValue", "BytesValue":
		fd := fields.ByNumber(1)
		return w.singular(fd, m.Get(fd))
	case "Struct", "ListValue", "Value":
		return w.known(m.Interface())
	}
	return errSlowPath // FieldMask
}

// anyValue is structConv.anyValue's Value.
func (w *wireConv) anyValue(m protoreflect.Message) error {
	fields := m.Descriptor().Fields()
	typeURL, value := m.Get(fields.ByNumber(1)).String(), m.Get(fields.ByNumber(2)).Bytes()
	if typeURL == "" {
		if len(value) == 0 {
			at := w.e.begin(valueStruct)
			w.e.end(at)
			return nil
		}
		return errSlowPath
	}
	inner, err := anyInner(w.u, m, typeURL, value)
	if err != nil {
		return err
	}
	at := w.e.begin(valueStruct)
	if hasSpecialJSON(inner.Descriptor().FullName()) {
		// "@type" sorts before "value".
		ea := w.beginEntry("@type")
		if err := w.str(typeURL); err != nil {
			return err
		}
		w.endEntry(ea)
		ea = w.beginEntry("value")
		if err := w.message(inner); err != nil {
			return err
		}
		w.endEntry(ea)
	} else if err := w.messageFields(inner, typeURL); err != nil {
		return err
	}
	w.e.end(at)
	return nil
}

// known writes a Struct, ListValue or Value as knownValue copies it.
func (w *wireConv) known(m proto.Message) error {
	switch x := m.(type) {
	case *structpb.Struct:
		at := w.e.begin(valueStruct)
		if err := w.knownFields(x); err != nil {
			return err
		}
		w.e.end(at)
		return nil
	case *structpb.ListValue:
		return w.knownList(x)
	case *structpb.Value:
		switch k := x.GetKind().(type) {
		case *structpb.Value_NullValue:
			w.null()
			return nil
		case *structpb.Value_BoolValue:
			w.boolean(k.BoolValue)
			return nil
		case *structpb.Value_StringValue:
			return w.str(k.StringValue)
		case *structpb.Value_NumberValue:
			if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
				return errSlowPath
			}
			w.number(k.NumberValue)
			return nil
		case *structpb.Value_StructValue:
			if k.StructValue == nil {
				at := w.e.begin(valueStruct)
				w.e.end(at)
				return nil
			}
			return w.known(k.StructValue)
		case *structpb.Value_ListValue:
			if k.ListValue == nil {
				at := w.e.begin(valueList)
				w.e.end(at)
				return nil
			}
			return w.knownList(k.ListValue)
		}
	}
	return errSlowPath
}

func (w *wireConv) knownFields(s *structpb.Struct) error {
	fields := s.GetFields()
	start := len(w.e.keys)
	w.e.keys = appendSortedKeys(w.e.keys, fields)
	defer func() { w.e.keys = w.e.keys[:start] }()
	for i := range len(fields) {
		k := w.e.keys[start+i]
		if !utf8.ValidString(k) {
			return errSlowPath
		}
		ea := w.beginEntry(k)
		if err := w.known(fields[k]); err != nil {
			return err
		}
		w.endEntry(ea)
	}
	return nil
}

func (w *wireConv) knownList(l *structpb.ListValue) error {
	at := w.e.begin(valueList)
	for _, v := range l.GetValues() {
		it := w.e.begin(listValues)
		if err := w.known(v); err != nil {
			return err
		}
		w.e.end(it)
	}
	w.e.end(at)
	return nil
}

// patchValue is the Struct an EnvoyFilter patch carries for a unit's
// filter. The EnvoyFilter's spec points at stub from the start; stub is
// empty until the first reader of the spec (EnvoyFilter.Spec) decodes
// encoded into it, while the publisher sends encoded as it is. Units with
// the same output share one patchValue: stub must not be modified.
type patchValue struct {
	stub *structpb.Struct
	// encoded is the encoding of the Struct's fields, nil when it does
	// not encode (then stub is filled from the start).
	encoded []byte
	once    sync.Once
	// empty is the stub of a value written directly, allocated with it
	// (one allocation rather than two per filter of every unit).
	empty structpb.Struct
}

// newPatchValue makes the patchValue of filter f: its encoding written
// directly (with a *wireConv from wires, if any), or, when that route does
// not handle f, the Struct made and encoded.
func newPatchValue(f proto.Message, u *xds.Unpacked, wires *sync.Pool) *patchValue {
	w, _ := wires.Get().(*wireConv)
	if w == nil {
		w = &wireConv{}
	}
	b, err := w.encode(f, u)
	wires.Put(w)
	if err == nil {
		p := &patchValue{encoded: b}
		p.stub = &p.empty
		return p
	}
	s, err := structConv{u: u}.structOf(f)
	if err != nil {
		s = toStructJSON(f)
	}
	p := &patchValue{stub: s}
	p.encoded, _ = encodeStruct(s)
	p.once.Do(func() {}) // stub is already the Struct
	return p
}

// materialize fills stub from encoded, once.
func (p *patchValue) materialize() {
	p.once.Do(func() {
		if err := proto.Unmarshal(p.encoded, p.stub); err != nil {
			panic(fmt.Sprintf("translate: a patch value's own encoding does not decode: %v", err))
		}
	})
}
