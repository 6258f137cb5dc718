package server

import (
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// responseCodec is gRPC's proto codec except for state-of-the-world
// DiscoveryResponses, whose resources it does not copy: each Any's value
// (already an encoded resource, kept by the caches and never changed
// once made) goes to the transport by reference, behind the few bytes of
// its tag and length. An MCP answer carries the whole collection (istiod's
// MCP client, istio.io/istio pkg/adsc/adsc.go, is state of the world and
// drops what an answer leaves out), 20 MB at 10,000 services; proto.Marshal
// copied all of it into a new buffer for every answer, on the path from an
// edit to istiod's receipt. The bytes are the ones proto.Marshal writes
// (TestResponseCodecWritesWhatProtoMarshalWrites).
//
// The pieces an answer sends for a resource (the head: tag, length, type
// URL and the value's tag and length; the value) are made once per
// resource and kept while answers send it (framedAny): an answer of the
// whole collection then allocates only its list of pieces, where writing
// 20,000 heads and boxing 40,000 pieces had been 2.5 MB per answer, on
// every edit, and garbage that brought the next collection of aeraki's
// heap sooner.
type responseCodec struct {
	proto encoding.CodecV2
	// keep are the type URLs whose answers' pieces are kept: the MCP
	// collections, each answered whole to a few istiod streams. Proxies'
	// answers are small, of their own resources, on up to thousands of
	// streams that would wait on one another for the lock.
	keep map[string]bool

	mu      sync.Mutex
	framed  map[*anypb.Any]*framedAny
	answers uint64 // answers written through framed
}

// framedAny is one resource's pieces, with what they were made from (an
// Any changed in place is framed again) and the last answer that sent
// them.
type framedAny struct {
	typeURL string
	value   []byte
	head    mem.Buffer
	body    mem.Buffer // nil when the value went into head
	used    uint64
}

// Framing is kept for the resources of the answers of the last
// framedKeep answers: those that no recent answer sent (replaced or
// dropped from the collection) are forgotten, swept every framedKeep
// answers.
const framedKeep = 16

// framedMin is the number of resources from which an answer's pieces are
// kept: fewer are cheaper to write than to look up.
const framedMin = 64

// newResponseCodec returns a codec that keeps the pieces of the answers
// of the given type URLs.
func newResponseCodec(keep ...string) *responseCodec {
	c := &responseCodec{proto: encoding.GetCodecV2("proto"), keep: map[string]bool{}, framed: map[*anypb.Any]*framedAny{}}
	for _, t := range keep {
		c.keep[t] = true
	}
	return c
}

// Name is the proto codec's: clients see the usual content type.
func (c *responseCodec) Name() string { return c.proto.Name() }

func (c *responseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}

// refMin is the size from which an Any's value is sent by reference
// rather than copied with its tag: below it a buffer of its own costs more
// than the copy.
const refMin = 256

func (c *responseCodec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*discoveryv3.DiscoveryResponse)
	if !ok || len(r.GetResources()) == 0 {
		return c.proto.Marshal(v)
	}
	// The fields before and after resources (field 2), marshalled as the
	// two halves of a copy: proto.Marshal writes fields in number order,
	// so head + resources + tail are its bytes.
	head, tail := &discoveryv3.DiscoveryResponse{}, &discoveryv3.DiscoveryResponse{}
	var resources protoreflect.FieldDescriptor
	r.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch {
		case fd.Number() < 2:
			head.ProtoReflect().Set(fd, val)
		case fd.Number() == 2:
			resources = fd
		default:
			tail.ProtoReflect().Set(fd, val)
		}
		return true
	})
	if len(r.ProtoReflect().GetUnknown()) > 0 || resources == nil {
		return c.proto.Marshal(v)
	}
	for _, a := range r.Resources {
		if a == nil || len(a.ProtoReflect().GetUnknown()) > 0 {
			return c.proto.Marshal(v) // rare: not worth a path of their own
		}
	}
	if len(r.Resources) >= framedMin && c.keep[r.TypeUrl] {
		return c.marshalFramed(r, head, tail)
	}
	// Sized first: everything that is copied goes into one buffer made at
	// its size, and the pieces sent are slices of it. Appending to a
	// growing buffer copied a 20 MB answer about twice more and left as
	// much garbage per answer, on the path from an edit to istiod.
	size, refs := proto.Size(head)+proto.Size(tail), 0
	for _, a := range r.Resources {
		size += anyHeadSize(a)
		if len(a.Value) >= refMin {
			refs++
		} else {
			size += len(a.Value)
		}
	}
	buf := make([]byte, 0, size)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, head)
	if err != nil {
		return nil, err
	}
	out := make(mem.BufferSlice, 0, 2*refs+1)
	start := 0 // where the copied bytes not yet in out begin
	for _, a := range r.Resources {
		buf = appendAnyHead(buf, a)
		if len(a.Value) >= refMin {
			out = append(out, mem.SliceBuffer(buf[start:len(buf):len(buf)]), mem.SliceBuffer(a.Value))
			start = len(buf)
		} else {
			buf = append(buf, a.Value...)
		}
	}
	if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, tail); err != nil {
		return nil, err
	}
	if len(buf) > start {
		out = append(out, mem.SliceBuffer(buf[start:]))
	}
	return out, nil
}

// marshalFramed writes r from the kept pieces of its resources, framing
// those it has none for (head and tail are r's fields before and after
// its resources).
func (c *responseCodec) marshalFramed(r, head, tail *discoveryv3.DiscoveryResponse) (mem.BufferSlice, error) {
	hb, err := proto.MarshalOptions{}.Marshal(head)
	if err != nil {
		return nil, err
	}
	tb, err := proto.MarshalOptions{}.Marshal(tail)
	if err != nil {
		return nil, err
	}
	out := make(mem.BufferSlice, 0, 2*len(r.Resources)+2)
	if len(hb) > 0 {
		out = append(out, mem.SliceBuffer(hb))
	}
	c.mu.Lock()
	c.answers++
	n := c.answers
	var arena []byte // the heads framed by this answer
	for _, a := range r.Resources {
		f := c.framed[a]
		if f == nil || f.typeURL != a.TypeUrl || !sameBytes(f.value, a.Value) {
			f, arena = frameAny(a, arena)
			c.framed[a] = f
		}
		f.used = n
		out = append(out, f.head)
		if f.body != nil {
			out = append(out, f.body)
		}
	}
	if n%framedKeep == 0 {
		for a, f := range c.framed {
			if f.used+framedKeep <= n {
				delete(c.framed, a)
			}
		}
	}
	c.mu.Unlock()
	if len(tb) > 0 {
		out = append(out, mem.SliceBuffer(tb))
	}
	return out, nil
}

// frameAny makes a's pieces: its head written into arena (grown by a
// chunk when full), with the value after it when the value is small, else
// the value apart, by reference.
func frameAny(a *anypb.Any, arena []byte) (*framedAny, []byte) {
	size := anyHeadSize(a)
	inline := len(a.Value) < refMin
	if inline {
		size += len(a.Value)
	}
	if cap(arena)-len(arena) < size {
		arena = make([]byte, 0, max(size, 64<<10))
	}
	start := len(arena)
	arena = appendAnyHead(arena, a)
	f := &framedAny{typeURL: a.TypeUrl, value: a.Value}
	if inline {
		arena = append(arena, a.Value...)
	} else {
		f.body = mem.SliceBuffer(a.Value)
	}
	f.head = mem.SliceBuffer(arena[start:len(arena):len(arena)])
	return f, arena
}

// sameBytes reports whether a and b are the same bytes in memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// anyHeadSize is the size of what appendAnyHead appends for a: a's
// whole field but for its value's bytes.
func anyHeadSize(a *anypb.Any) int {
	c := anyContentSize(a)
	return protowire.SizeTag(2) + protowire.SizeVarint(uint64(c)) + c - len(a.Value)
}

// anyContentSize is the size of a's encoding (type URL and value).
func anyContentSize(a *anypb.Any) int {
	n := 0
	if a.TypeUrl != "" {
		n += protowire.SizeTag(1) + protowire.SizeBytes(len(a.TypeUrl))
	}
	if len(a.Value) > 0 {
		n += protowire.SizeTag(2) + protowire.SizeBytes(len(a.Value))
	}
	return n
}

// appendAnyHead appends resources' tag and an Any's length, type URL and
// the tag and length of its value (the value itself follows): the Any's
// encoding up to its last field's bytes.
func appendAnyHead(b []byte, a *anypb.Any) []byte {
	size := anyContentSize(a)
	b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.BytesType), uint64(size))
	if a.TypeUrl != "" {
		b = protowire.AppendString(protowire.AppendTag(b, 1, protowire.BytesType), a.TypeUrl)
	}
	if len(a.Value) > 0 {
		b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.BytesType), uint64(len(a.Value)))
	}
	return b
}
