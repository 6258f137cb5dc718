package translate

import (
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// For the tests of the direct Struct conversion (structconv_test.go).
var (
	StructOf     = structOf
	StructByJSON = toStructJSON
)

// StructWire is structWire without an Unpacked.
func StructWire(m proto.Message) ([]byte, error) { return structWire(m, nil) }

// EncodeSpec is encodeSpec, nil when it does not encode.
func EncodeSpec(spec *networkingv1alpha3.EnvoyFilter) []byte {
	enc, ok := encodeSpec(spec, nil, 0, nil)
	if !ok {
		return nil
	}
	return enc.spec()
}

// HoldsSpec reports whether ef keeps its spec as a message (not only its
// encoding).
func HoldsSpec(ef *EnvoyFilter) bool { return ef.spec != nil }
