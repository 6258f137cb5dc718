package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// revisionHash hashes encoded config into a model.Revision.
//
// It hashes the bytes themselves. model.RevisionOf must not be given
// protobuf bytes as Go strings: it hashes their JSON encoding, and JSON
// replaces every invalid UTF-8 byte with U+FFFD, so configs that differ
// only in varint bytes >= 0x80 (ports, durations, weights over 127) would
// get the same revision and the change would never be served.
type revisionHash struct {
	opts proto.MarshalOptions
	sum  hash.Hash
	// buf collects parts before they are hashed (a sha256 Write per small
	// part costs more than the part); enc is reused for encodings, keys
	// for the sorted keys of Structs.
	buf, enc []byte
	keys     []string
}

func newRevisionHash() *revisionHash {
	return &revisionHash{opts: proto.MarshalOptions{Deterministic: true}, sum: sha256.New(), buf: make([]byte, 0, 512)}
}

// reset starts a new hash, keeping the buffers.
func (r *revisionHash) reset() {
	r.sum.Reset()
	r.buf, r.keys = r.buf[:0], r.keys[:0]
}

// bytes adds one length-prefixed part, so ("ab","c") and ("a","bc") differ.
// A part of directPart bytes or more (an EnvoyFilter's spec encoding) is
// written to the hash as it is rather than copied into buf first: the
// hashed stream, so the revision, is the same.
func (r *revisionHash) bytes(b []byte) {
	r.buf = binary.AppendUvarint(r.buf, uint64(len(b)))
	if len(b) >= directPart {
		r.flush()
		r.sum.Write(b)
		return
	}
	r.buf = append(r.buf, b...)
	if len(r.buf) >= 16<<10 {
		r.flush()
	}
}

// directPart is the size from which bytes writes a part straight to the
// hash.
const directPart = 1 << 10

// str is bytes for a string, without converting it.
func (r *revisionHash) str(s string) {
	r.buf = binary.AppendUvarint(r.buf, uint64(len(s)))
	if len(s) >= directPart {
		r.flush()
		io.WriteString(r.sum, s)
		return
	}
	r.buf = append(r.buf, s...)
	if len(r.buf) >= 16<<10 {
		r.flush()
	}
}

func (r *revisionHash) flush() {
	r.sum.Write(r.buf)
	r.buf = r.buf[:0]
}

// message adds a deterministically encoded message. A message that does
// not marshal (a string field with invalid UTF-8, a proto2 message missing
// a required field) is hashed field by field instead: hashing the empty
// result would give every such message one revision, and a change between
// two of them would never be served.
func (r *revisionHash) message(m proto.Message) {
	b, err := r.opts.MarshalAppend(r.enc[:0], m)
	if err != nil {
		r.bytes([]byte("unmarshalable"))
		r.reflect(m.ProtoReflect())
		return
	}
	r.enc = b[:0]
	r.bytes(b)
}

// reflect hashes a message's populated fields in field-number order (Range
// visits them in no fixed order), map entries in key order, then an empty
// part that ends the message (no field number is empty), so that a field
// after a nested message is not read as one of its fields. Struct, Value
// and ListValue are hashed from their Go values.
func (r *revisionHash) reflect(m protoreflect.Message) {
	switch x := m.Interface().(type) {
	case *structpb.Struct:
		r.structFields(x)
		return
	case *structpb.Value:
		r.structValue(x)
		return
	case *structpb.ListValue:
		r.listValues(x)
		return
	}
	defer r.bytes(nil)
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	slices.SortFunc(fields, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number()) - int(b.Number()) })
	for _, fd := range fields {
		r.str(strconv.Itoa(int(fd.Number())))
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			r.bytes([]byte(strconv.Itoa(l.Len())))
			for i := 0; i < l.Len(); i++ {
				r.value(fd, l.Get(i))
			}
		case fd.IsMap():
			type entry struct {
				k string
				v protoreflect.Value
			}
			var es []entry
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				es = append(es, entry{k.String(), v})
				return true
			})
			sort.Slice(es, func(i, j int) bool { return es[i].k < es[j].k })
			for _, e := range es {
				r.bytes([]byte(e.k))
				r.value(fd.MapValue(), e.v)
			}
		default:
			r.value(fd, v)
		}
	}
}

func (r *revisionHash) value(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		r.reflect(v.Message())
	case protoreflect.BytesKind:
		r.bytes(v.Bytes())
	case protoreflect.StringKind:
		r.str(v.String())
	case protoreflect.EnumKind:
		r.str(strconv.FormatInt(int64(v.Enum()), 10))
	case protoreflect.BoolKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		r.str(strconv.FormatInt(boolOrInt(v), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		r.str(strconv.FormatUint(v.Uint(), 10))
	default:
		r.str(v.String())
	}
}

func boolOrInt(v protoreflect.Value) int64 {
	if b, ok := v.Interface().(bool); ok {
		if b {
			return 1
		}
		return 0
	}
	return v.Int()
}

// Kinds of a structpb.Value, as hashed.
const (
	kindNone byte = iota
	kindNull
	kindNumber
	kindString
	kindBool
	kindStruct
	kindList
)

// structFields hashes a Struct: its number of fields, then each key and
// value in key order.
func (r *revisionHash) structFields(s *structpb.Struct) {
	fields := s.GetFields()
	r.count(len(fields))
	start := len(r.keys)
	r.keys = appendSortedKeys(r.keys, fields)
	for i := range len(fields) {
		k := r.keys[start+i] // r.keys may grow (nested Structs) but keeps this part
		r.str(k)
		r.structValue(fields[k])
	}
	r.keys = r.keys[:start]
}

func (r *revisionHash) listValues(l *structpb.ListValue) {
	r.count(len(l.GetValues()))
	for _, v := range l.GetValues() {
		r.structValue(v)
	}
}

// structValue hashes a Value: a kind byte and the value.
func (r *revisionHash) structValue(v *structpb.Value) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		r.buf = append(r.buf, kindNull)
	case *structpb.Value_NumberValue:
		r.buf = append(r.buf, kindNumber)
		r.buf = binary.LittleEndian.AppendUint64(r.buf, math.Float64bits(k.NumberValue))
		if len(r.buf) >= 16<<10 {
			r.flush()
		}
	case *structpb.Value_StringValue:
		r.buf = append(r.buf, kindString)
		r.str(k.StringValue)
	case *structpb.Value_BoolValue:
		r.buf = append(r.buf, kindBool)
		if k.BoolValue {
			r.buf = append(r.buf, 1)
		} else {
			r.buf = append(r.buf, 0)
		}
	case *structpb.Value_StructValue:
		r.buf = append(r.buf, kindStruct)
		r.structFields(k.StructValue)
	case *structpb.Value_ListValue:
		r.buf = append(r.buf, kindList)
		r.listValues(k.ListValue)
	default:
		r.buf = append(r.buf, kindNone)
	}
}

func (r *revisionHash) count(n int) {
	r.buf = binary.AppendUvarint(r.buf, uint64(n))
}

// revision returns the hash so far, in the form of model.RevisionOf.
func (r *revisionHash) revision() model.Revision {
	r.flush()
	var sum [sha256.Size]byte
	return model.Revision(hex.EncodeToString(r.sum.Sum(sum[:0])[:revisionLen/2]))
}

// revisionLen is the length of every revision the hash gives.
const revisionLen = 16

// appendSortedKeys appends a Struct's keys to buf, the appended part
// sorted: both encodings of a spec (its revision hash and its wire bytes)
// must visit fields in the same deterministic order, and share one key
// stack across nested Structs to avoid a slice per Struct.
func appendSortedKeys(buf []string, fields map[string]*structpb.Value) []string {
	start := len(buf)
	for k := range fields {
		buf = append(buf, k)
	}
	slices.Sort(buf[start:])
	return buf
}
