package translate

import (
	"fmt"
	"math"
	"sync"
	"unicode/utf8"
	"weak"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// An EnvoyFilter is encoded once, when it is assembled: its revision is a
// hash of that encoding, and the publisher sends the same bytes to istiod
// (EncodedSpec) instead of encoding the spec again. Most of a spec is its
// patch values, Structs of whole Envoy filters, which proto.Marshal
// encodes through reflection, copying every map key (and sorting them
// when deterministic); specEncoder writes them from their Go values, keys
// sorted, so the encoding is deterministic and allocates nothing but the
// output. The rest of the spec (matches, selectors) is small and goes
// through proto.Marshal. TestEncodedSpecDecodesToTheSpec decodes the
// encoding of every golden EnvoyFilter back to its spec;
// TestEnvoyFilterRevisionCoversEveryField fails when Istio's API gains a
// field the encoder does not write.

// Field numbers of istio.networking.v1alpha3.EnvoyFilter and its patches
// (networking/v1alpha3/envoy_filter.proto), and of google.protobuf.Struct,
// Value and ListValue (struct.proto).
const (
	efWorkloadSelector protowire.Number = 3
	efConfigPatches    protowire.Number = 4
	efPriority         protowire.Number = 5
	efTargetRefs       protowire.Number = 6

	patchApplyTo protowire.Number = 1
	patchMatch   protowire.Number = 2
	patchPatch   protowire.Number = 3

	opOperation   protowire.Number = 1
	opValue       protowire.Number = 2
	opFilterClass protowire.Number = 3

	structFields protowire.Number = 1
	entryKey     protowire.Number = 1
	entryValue   protowire.Number = 2
	valueNull    protowire.Number = 1
	valueNumber  protowire.Number = 2
	valueString  protowire.Number = 3
	valueBool    protowire.Number = 4
	valueStruct  protowire.Number = 5
	valueList    protowire.Number = 6
	listValues   protowire.Number = 1
	maxInlineLen                  = 127 // a length that fits the one byte reserved for it
)

type specEncoder struct {
	b    []byte
	keys []string // sorted keys of the Structs being written, innermost last
	opts proto.MarshalOptions
	// units are those the EnvoyFilter was assembled from: the Structs of
	// their filters were encoded by the unit builds (once for all the
	// units with the same output), and are copied instead.
	units []*Unit
}

// specEncoding is an EnvoyFilter's spec as encoded at assembly, after
// room left for the head of the message a transport sends it in
// (Framed): the publisher sends every spec inside istiod's MCP resource,
// whose encoding ends with the spec's bytes, and writing that head into
// the room makes the resource a slice of the same buffer instead of a
// copy, so the mesh's specs (20 MB at 10,000 services) are held once.
type specEncoding struct {
	// from is the spec encoded, nil once its EnvoyFilter dropped it
	// (seal): the encoding is then the EnvoyFilter's spec.
	from *networkingv1alpha3.EnvoyFilter
	buf  []byte // room, then the spec's bytes
	room int    // where the spec's bytes start

	mu   sync.Mutex
	head int // bytes of the room before the spec that Framed wrote; 0 until then
	// dec is the spec decoded, while its last reader holds it: a weak
	// pointer (src/weak/pointer.go: Value is nil once the collector has
	// freed what it points to) so that reading every spec once (a debug
	// endpoint's dump of the config) does not keep a decoded copy of the
	// mesh's specs, a dozen messages each, for as long as the
	// EnvoyFilters live; two reads in a row still decode once.
	dec weak.Pointer[networkingv1alpha3.EnvoyFilter]
}

// decoded is the spec the bytes encode, decoded unless a reader still
// holds the last decoding.
func (s *specEncoding) decoded() *networkingv1alpha3.EnvoyFilter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dec := s.dec.Value(); dec != nil {
		return dec
	}
	dec := &networkingv1alpha3.EnvoyFilter{}
	if err := proto.Unmarshal(s.spec(), dec); err != nil {
		panic(fmt.Sprintf("translate: an EnvoyFilter's own encoding does not decode: %v", err))
	}
	s.dec = weak.Make(dec)
	return dec
}

// spec is the spec's bytes, capacity cut so that nobody appends into the
// buffer.
func (s *specEncoding) spec() []byte { return s.buf[s.room:len(s.buf):len(s.buf)] }

// framed is head followed by the spec's bytes: the head is written into
// the room once, and a later call with the same head gets the same bytes;
// another head, or one the room cannot hold, gets a copy.
func (s *specEncoding) framed(head []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == 0 && len(head) > 0 && len(head) <= s.room {
		copy(s.buf[s.room-len(head):], head)
		s.head = len(head)
	}
	if s.head == len(head) && string(s.buf[s.room-s.head:s.room]) == string(head) {
		return s.buf[s.room-s.head : len(s.buf) : len(s.buf)]
	}
	out := make([]byte, 0, len(head)+len(s.buf)-s.room)
	return append(append(out, head...), s.spec()...)
}

// envelopeRoom is the room encodeSpec leaves before ef's spec for the head
// of istiod's MCP resource (Framed): its metadata (name, revision, labels
// and annotations, each entry with three tags and lengths) and its body's
// Any (the spec's type URL, the tags and lengths of the body and of the
// value), with a margin. It is read once the metadata is complete, before
// the revision, which is always revisionLen hex digits. Too little room
// costs a copy, never wrong bytes.
func envelopeRoom(ef *EnvoyFilter) int {
	n := 96 + len(ef.Namespace) + 1 + len(ef.Name) + revisionLen
	for k, v := range ef.Labels {
		n += 12 + len(k) + len(v)
	}
	ef.EachAnnotation(func(k, v string) { n += 12 + len(k) + len(v) })
	return n
}

// encodeSpec encodes spec, assembled from units, after room bytes left
// for a head (Framed); ok is false when a part of it does not encode (a
// string that is not UTF-8) or carries unknown fields. The spec is
// encoded into scratch (nil: a buffer of its own), reused from one
// EnvoyFilter to the next, and copied into a buffer of its exact size:
// every encoding stays as long as its EnvoyFilter, and one made in a
// buffer sized by estimate kept a fifth more than its bytes.
func encodeSpec(spec *networkingv1alpha3.EnvoyFilter, units []*Unit, room int, scratch *[]byte) (enc *specEncoding, ok bool) {
	e := &specEncoder{opts: proto.MarshalOptions{Deterministic: true}, units: units}
	// Room for the units' Structs and each patch's match and framing, so
	// that the buffer is not grown (and copied) as it fills.
	n := len(spec.GetConfigPatches()) * patchOverhead
	for _, u := range units {
		for i := range u.structs {
			n += len(u.structs[i].encoded)
		}
	}
	if scratch == nil {
		scratch = new([]byte)
	}
	if cap(*scratch) < n {
		*scratch = make([]byte, 0, n)
	}
	e.b = (*scratch)[:0]
	ok = e.spec(spec)
	*scratch = e.b[:0]
	if !ok {
		return nil, false
	}
	buf := make([]byte, room+len(e.b))
	copy(buf[room:], e.b)
	return &specEncoding{from: spec, buf: buf, room: room}, true
}

// patchOverhead is about what a sidecar patch adds to its Struct in the
// encoded spec: the match (listener name, port, filter name), applyTo, the
// operation and the length prefixes.
const patchOverhead = 192

// encodeStruct encodes a Struct's fields (the content of a patch value).
func encodeStruct(s *structpb.Struct) ([]byte, bool) {
	e := &specEncoder{}
	if !e.structFields(s) {
		return nil, false
	}
	return e.b, true
}

// encoded is the encoding a unit build made of s, if s is one of the
// units' Structs.
func (e *specEncoder) encoded(s *structpb.Struct) []byte {
	for _, u := range e.units {
		for i := range u.structs {
			if u.structs[i].stub == s {
				return u.structs[i].encoded
			}
		}
	}
	return nil
}

func (e *specEncoder) spec(s *networkingv1alpha3.EnvoyFilter) bool {
	if len(s.ProtoReflect().GetUnknown()) > 0 {
		return false
	}
	if s.GetWorkloadSelector() != nil && !e.message(efWorkloadSelector, s.GetWorkloadSelector()) {
		return false
	}
	for _, p := range s.GetConfigPatches() {
		if !e.patch(p) {
			return false
		}
	}
	if s.GetPriority() != 0 {
		e.b = protowire.AppendTag(e.b, efPriority, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, uint64(int64(s.GetPriority()))) // int32: sign-extended
	}
	for _, r := range s.GetTargetRefs() {
		if !e.message(efTargetRefs, r) {
			return false
		}
	}
	return true
}

func (e *specEncoder) patch(p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) bool {
	if p == nil {
		e.b = protowire.AppendTag(e.b, efConfigPatches, protowire.BytesType)
		e.b = append(e.b, 0)
		return true
	}
	if len(p.ProtoReflect().GetUnknown()) > 0 {
		return false
	}
	at := e.begin(efConfigPatches)
	if p.GetApplyTo() != 0 {
		e.b = protowire.AppendTag(e.b, patchApplyTo, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, uint64(int64(p.GetApplyTo())))
	}
	if p.GetMatch() != nil && !e.message(patchMatch, p.GetMatch()) {
		return false
	}
	if op := p.GetPatch(); op != nil {
		if len(op.ProtoReflect().GetUnknown()) > 0 {
			return false
		}
		at := e.begin(patchPatch)
		if op.GetOperation() != 0 {
			e.b = protowire.AppendTag(e.b, opOperation, protowire.VarintType)
			e.b = protowire.AppendVarint(e.b, uint64(int64(op.GetOperation())))
		}
		if op.GetValue() != nil {
			at := e.begin(opValue)
			if b := e.encoded(op.GetValue()); b != nil {
				e.b = append(e.b, b...)
			} else if !e.structFields(op.GetValue()) {
				return false
			}
			e.end(at)
		}
		if op.GetFilterClass() != 0 {
			e.b = protowire.AppendTag(e.b, opFilterClass, protowire.VarintType)
			e.b = protowire.AppendVarint(e.b, uint64(int64(op.GetFilterClass())))
		}
		e.end(at)
	}
	e.end(at)
	return true
}

// message appends m as field num, through proto.Marshal.
func (e *specEncoder) message(num protowire.Number, m proto.Message) bool {
	at := e.begin(num)
	b, err := e.opts.MarshalAppend(e.b, m)
	if err != nil {
		return false
	}
	e.b = b
	e.end(at)
	return true
}

// begin appends the tag of a length-delimited field and one byte for its
// length, and returns where that byte is.
func (e *specEncoder) begin(num protowire.Number) int {
	e.b = protowire.AppendTag(e.b, num, protowire.BytesType)
	e.b = append(e.b, 0)
	return len(e.b) - 1
}

// end writes the length of the field begun at, moving its content when
// the length needs more than the byte reserved.
func (e *specEncoder) end(at int) {
	n := len(e.b) - at - 1
	if n <= maxInlineLen {
		e.b[at] = byte(n)
		return
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	for range extra {
		e.b = append(e.b, 0)
	}
	copy(e.b[at+1+extra:], e.b[at+1:at+1+n])
	protowire.AppendVarint(e.b[at:at], uint64(n))
}

// structFields writes a Struct's fields. Structs, Values and ListValues
// are not asked for unknown fields (ProtoReflect on every Value was a
// tenth of the encoding): the translator makes them from messages, and a
// Struct carries none.
func (e *specEncoder) structFields(s *structpb.Struct) bool {
	fields := s.GetFields()
	start := len(e.keys)
	e.keys = appendSortedKeys(e.keys, fields)
	for i := range len(fields) {
		k := e.keys[start+i] // e.keys may grow (nested Structs) but keeps this part
		if !validUTF8(k) {
			return false
		}
		at := e.begin(structFields)
		e.b = protowire.AppendTag(e.b, entryKey, protowire.BytesType)
		e.b = protowire.AppendString(e.b, k)
		v := e.begin(entryValue)
		if !e.value(fields[k]) {
			return false
		}
		e.end(v)
		e.end(at)
	}
	e.keys = e.keys[:start]
	return true
}

func (e *specEncoder) value(v *structpb.Value) bool {
	if v == nil {
		return true
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		e.b = protowire.AppendTag(e.b, valueNull, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, uint64(k.NullValue))
	case *structpb.Value_NumberValue:
		e.b = protowire.AppendTag(e.b, valueNumber, protowire.Fixed64Type)
		e.b = protowire.AppendFixed64(e.b, float64bits(k.NumberValue))
	case *structpb.Value_StringValue:
		if !validUTF8(k.StringValue) {
			return false
		}
		e.b = protowire.AppendTag(e.b, valueString, protowire.BytesType)
		e.b = protowire.AppendString(e.b, k.StringValue)
	case *structpb.Value_BoolValue:
		e.b = protowire.AppendTag(e.b, valueBool, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, protowire.EncodeBool(k.BoolValue))
	case *structpb.Value_StructValue:
		at := e.begin(valueStruct)
		if k.StructValue != nil && !e.structFields(k.StructValue) {
			return false
		}
		e.end(at)
	case *structpb.Value_ListValue:
		at := e.begin(valueList)
		if l := k.ListValue; l != nil {
			for _, item := range l.GetValues() {
				it := e.begin(listValues)
				if !e.value(item) {
					return false
				}
				e.end(it)
			}
		}
		e.end(at)
	}
	return true
}

func float64bits(f float64) uint64 { return math.Float64bits(f) }

// validUTF8 is what proto.Marshal requires of a proto3 string.
func validUTF8(s string) bool { return utf8.ValidString(s) }

// EncodedSpec is Spec's protobuf encoding, made when the EnvoyFilter was
// assembled (its revision is a hash of it), for the publisher to send
// without encoding the spec again; nil when Spec is not the spec that was
// encoded (a copy with another Spec, such as RedactEnvoyFilter's) or it
// did not encode. An assembled EnvoyFilter's Spec is decoded from it.
func (e *EnvoyFilter) EncodedSpec() []byte {
	if e.enc == nil || e.enc.from != e.spec {
		return nil
	}
	return e.enc.spec()
}

// Framed is head followed by EncodedSpec, for a transport that sends the
// spec as the last bytes of a message of its own (the publisher: istiod's
// MCP resource, whose encoding up to the spec's bytes is head). The first
// head is written into room the encoding left before the spec, so the
// message is a slice of the spec's own buffer rather than a copy of it; a
// later call with the same head returns the same bytes, another head (or
// one too long for the room) a copy. nil when EncodedSpec is. The bytes
// must not be modified: they are the spec's.
func (e *EnvoyFilter) Framed(head []byte) []byte {
	if e.EncodedSpec() == nil {
		return nil
	}
	return e.enc.framed(head)
}
