package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

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
}

func newRevisionHash() *revisionHash {
	return &revisionHash{opts: proto.MarshalOptions{Deterministic: true}, sum: sha256.New()}
}

// bytes adds one length-prefixed part, so ("ab","c") and ("a","bc") differ.
func (r *revisionHash) bytes(b []byte) {
	var n [binary.MaxVarintLen64]byte
	r.sum.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	r.sum.Write(b)
}

// message adds a deterministically encoded message. A message that does
// not marshal (a string field with invalid UTF-8, a proto2 message missing
// a required field) is hashed field by field instead: hashing the empty
// result would give every such message one revision, and a change between
// two of them would never be served.
func (r *revisionHash) message(m proto.Message) {
	b, err := r.opts.Marshal(m)
	if err != nil {
		r.bytes([]byte("unmarshalable"))
		r.reflect(m.ProtoReflect())
		return
	}
	r.bytes(b)
}

// reflect hashes a message's populated fields in field-number order (Range
// visits them in no fixed order), map entries in key order.
func (r *revisionHash) reflect(m protoreflect.Message) {
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	sort.Slice(fields, func(i, j int) bool { return fields[i].Number() < fields[j].Number() })
	for _, fd := range fields {
		r.bytes([]byte(strconv.Itoa(int(fd.Number()))))
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
	default:
		r.bytes([]byte(v.String()))
	}
}

// revision returns the hash so far, in the form of model.RevisionOf.
func (r *revisionHash) revision() model.Revision {
	return model.Revision(hex.EncodeToString(r.sum.Sum(nil)[:8]))
}
