package server

import (
	"slices"

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
type responseCodec struct{ proto encoding.CodecV2 }

func newResponseCodec() responseCodec { return responseCodec{proto: encoding.GetCodecV2("proto")} }

// Name is the proto codec's: clients see the usual content type.
func (c responseCodec) Name() string { return c.proto.Name() }

func (c responseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}

// refMin is the size from which an Any's value is sent by reference
// rather than copied with its tag: below it the extra buffer costs more
// than the copy.
const refMin = 1024

func (c responseCodec) Marshal(v any) (mem.BufferSlice, error) {
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
	if len(r.ProtoReflect().GetUnknown()) > 0 || resources == nil || slices.Contains(r.Resources, nil) {
		return c.proto.Marshal(v)
	}
	buf, err := proto.Marshal(head)
	if err != nil {
		return nil, err
	}
	var out mem.BufferSlice
	for _, a := range r.Resources {
		if len(a.ProtoReflect().GetUnknown()) > 0 {
			b, err := proto.Marshal(a)
			if err != nil {
				return nil, err
			}
			buf = protowire.AppendBytes(protowire.AppendTag(buf, 2, protowire.BytesType), b)
			continue
		}
		buf = appendAnyHead(buf, a)
		if len(a.Value) >= refMin {
			out = append(out, mem.SliceBuffer(buf), mem.SliceBuffer(a.Value))
			buf = nil
		} else if len(a.Value) > 0 {
			buf = append(buf, a.Value...)
		}
	}
	if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, tail); err != nil {
		return nil, err
	}
	if len(buf) > 0 {
		out = append(out, mem.SliceBuffer(buf))
	}
	return out, nil
}

// appendAnyHead appends resources' tag and an Any's length, type URL and
// the tag and length of its value (the value itself follows): the Any's
// encoding up to its last field's bytes.
func appendAnyHead(b []byte, a *anypb.Any) []byte {
	size := 0
	if a.TypeUrl != "" {
		size += protowire.SizeTag(1) + protowire.SizeBytes(len(a.TypeUrl))
	}
	if len(a.Value) > 0 {
		size += protowire.SizeTag(2) + protowire.SizeBytes(len(a.Value))
	}
	b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.BytesType), uint64(size))
	if a.TypeUrl != "" {
		b = protowire.AppendString(protowire.AppendTag(b, 1, protowire.BytesType), a.TypeUrl)
	}
	if len(a.Value) > 0 {
		b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.BytesType), uint64(len(a.Value)))
	}
	return b
}
