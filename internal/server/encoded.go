package server

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"
)

// encoded is a resource together with its deterministic encoding, made
// once when its proxy's snapshot is built (the encoding its version is the
// hash of). It is what the snapshots hand go-control-plane's cache, so
// that a change fanned out to many streams is encoded once, not once per
// stream: the cache wraps every resource it answers with in a new
// cachedResource per response and marshals it there
// (go-control-plane v0.14.0 pkg/cache/v3/simple.go createResponse and
// cached_resource.go newCachedResource, which calls MarshalResource, that
// is proto.MarshalOptions{Deterministic: true}.Marshal), on every stream.
// proto.Marshal takes a message's own marshal function from its
// ProtoMethods (google.golang.org/protobuf proto/encode.go marshal), so
// encoded answers with its bytes; everything else (reflection, names) is
// the resource's. The bytes are never changed once made: the codec hands
// them to the transport by reference (responseCodec).
type encoded struct {
	proto.Message
	b []byte
}

// ProtoReflect is the resource's reflection but for the marshal methods.
func (e *encoded) ProtoReflect() protoreflect.Message {
	return encodedReflect{Message: e.Message.ProtoReflect(), e: e}
}

type encodedReflect struct {
	protoreflect.Message
	e *encoded
}

func (r encodedReflect) Interface() protoreflect.ProtoMessage { return r.e }

func (r encodedReflect) ProtoMethods() *protoiface.Methods { return &encodedMethods }

// encodedMethods is immutable: the marshal functions of every encoded.
var encodedMethods = protoiface.Methods{
	// The bytes are the deterministic encoding, so a deterministic
	// marshal may use them.
	Flags: protoiface.SupportMarshalDeterministic,
	// No Size: with one, proto.Marshal allocates a buffer of that size
	// first, and Marshal would copy into it.
	Marshal: func(in protoiface.MarshalInput) (protoiface.MarshalOutput, error) {
		b := in.Message.(encodedReflect).e.b
		if len(in.Buf) == 0 {
			// proto.Marshal's own buffer (nil): the shared bytes
			// themselves, not a copy; nobody writes to them.
			return protoiface.MarshalOutput{Buf: b[:len(b):len(b)]}, nil
		}
		return protoiface.MarshalOutput{Buf: append(in.Buf, b...)}, nil
	},
	// The resource was complete when encoded (proto.Marshal checked it).
	CheckInitialized: func(protoiface.CheckInitializedInput) (protoiface.CheckInitializedOutput, error) {
		return protoiface.CheckInitializedOutput{}, nil
	},
}
