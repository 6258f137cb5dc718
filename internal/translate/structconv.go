package translate

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// An EnvoyFilter patch carries its Envoy message as a Struct in the
// message's JSON form (what istiod decodes back with protojson). Going
// there through protojson.Marshal and a protojson.Unmarshal into a
// Struct was half the cost of a full translation; structOf builds the
// Struct straight from the message with the rules of the protojson
// encoder in google.golang.org/protobuf/encoding/protojson
// (encode.go and well_known_types.go) followed by its decoding of JSON
// into a Struct (every number a float64, everything else as written):
//
//   - a field is present when protoreflect's Range visits it (populated),
//     under its JSON name (lowerCamelCase, or json_name);
//   - int64, uint64 and their fixed/sint forms are decimal strings, other
//     integers numbers; floats numbers, except NaN and infinities, which
//     are the strings "NaN", "Infinity" and "-Infinity"; a float (32-bit)
//     is the float64 its shortest 32-bit decimal form parses to;
//   - bytes are standard base64; enums their value's name, or the number
//     when the value is unknown; google.protobuf.NullValue is null;
//   - maps are objects keyed by the key's text, repeated fields lists;
//   - google.protobuf.Any is an object with "@type" and the packed
//     message's fields, or "@type" and "value" when the packed message is
//     itself one with a special JSON form; Duration is "<s>[.<frac>]s" and
//     Timestamp RFC 3339 in UTC, both with 0, 3, 6 or 9 fractional
//     digits; the wrappers are their value; Struct, ListValue and Value
//     are themselves.
//
// Anything outside what this handles (an Any whose type is not linked
// in, a FieldMask, a value protojson rejects) is reported as an error, and
// toStruct then takes the JSON round trip, so the output is the same
// either way; TestStructOfMatchesTheJSONRoundTrip compares the two on
// every golden input's filters and on messages built to reach each rule.

// errSlowPath says a message needs the JSON round trip.
var errSlowPath = errors.New("not converted directly")

// structOf converts m to the Struct protojson.Marshal and protojson.Unmarshal
// into a Struct would give.
func structOf(m proto.Message) (*structpb.Struct, error) { return structConv{}.structOf(m) }

// structConv converts messages to Structs, decoding Any values through u
// (nil: each one when met).
type structConv struct {
	u *xds.Unpacked
}

func (c structConv) structOf(m proto.Message) (*structpb.Struct, error) {
	rm := m.ProtoReflect()
	if hasSpecialJSON(rm.Descriptor().FullName()) {
		return nil, errSlowPath
	}
	return c.messageStruct(rm, "")
}

// hasSpecialJSON reports the well-known types protojson does not encode
// as an object of their fields.
func hasSpecialJSON(name protoreflect.FullName) bool {
	// Compared as a prefix rather than through name.Parent(), which
	// searches the name for its last dot: this runs for every message of
	// every patch value, and a name of the package's is the prefix and a
	// name with no dot (a nested one matches none of the cases).
	const pkg = "google.protobuf."
	if len(name) <= len(pkg) || name[:len(pkg)] != pkg {
		return false
	}
	switch name[len(pkg):] {
	case "Any", "Timestamp", "Duration", "BoolValue", "Int32Value", "Int64Value", "UInt32Value", "UInt64Value",
		"FloatValue", "DoubleValue", "StringValue", "BytesValue", "Struct", "ListValue", "Value", "FieldMask":
		return true
	}
	return false
}

// messageStruct encodes an ordinary message as an object of its populated
// fields, with "@type" first when it is the content of an Any.
func (c structConv) messageStruct(m protoreflect.Message, typeURL string) (*structpb.Struct, error) {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	if typeURL != "" {
		s.Fields["@type"] = structpb.NewStringValue(typeURL)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		var val *structpb.Value
		switch {
		case fd.IsList():
			val, err = c.listValue(fd, v.List())
		case fd.IsMap():
			val, err = c.mapValue(fd, v.Map())
		default:
			val, err = c.singular(fd, v)
		}
		if err != nil {
			return false
		}
		s.Fields[fd.JSONName()] = val
		return true
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c structConv) listValue(fd protoreflect.FieldDescriptor, l protoreflect.List) (*structpb.Value, error) {
	out := &structpb.ListValue{Values: make([]*structpb.Value, l.Len())}
	for i := range l.Len() {
		v, err := c.singular(fd, l.Get(i))
		if err != nil {
			return nil, err
		}
		out.Values[i] = v
	}
	return structpb.NewListValue(out), nil
}

func (c structConv) mapValue(fd protoreflect.FieldDescriptor, m protoreflect.Map) (*structpb.Value, error) {
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, m.Len())}
	var err error
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		var val *structpb.Value
		if val, err = c.singular(fd.MapValue(), v); err != nil {
			return false
		}
		key := k.String()
		if !utf8.ValidString(key) {
			err = errSlowPath
			return false
		}
		out.Fields[key] = val
		return true
	})
	if err != nil {
		return nil, err
	}
	return structpb.NewStructValue(out), nil
}

// singular encodes one value of fd's kind.
func (c structConv) singular(fd protoreflect.FieldDescriptor, v protoreflect.Value) (*structpb.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return structpb.NewBoolValue(v.Bool()), nil
	case protoreflect.StringKind:
		if !utf8.ValidString(v.String()) {
			return nil, errSlowPath // protojson refuses it
		}
		return structpb.NewStringValue(v.String()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return structpb.NewNumberValue(float64(v.Int())), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return structpb.NewNumberValue(float64(v.Uint())), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return structpb.NewStringValue(strconv.FormatInt(v.Int(), 10)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return structpb.NewStringValue(strconv.FormatUint(v.Uint(), 10)), nil
	case protoreflect.FloatKind:
		return floatValue(v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return floatValue(v.Float(), 64), nil
	case protoreflect.BytesKind:
		return structpb.NewStringValue(base64.StdEncoding.EncodeToString(v.Bytes())), nil
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return structpb.NewNullValue(), nil
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return structpb.NewStringValue(string(ev.Name())), nil
		}
		return structpb.NewNumberValue(float64(v.Enum())), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return c.messageValue(v.Message())
	}
	return nil, errSlowPath
}

// floatValue is what a float of bitSize bits becomes after protojson
// writes it and the JSON is read back as a float64.
func floatValue(f float64, bitSize int) *structpb.Value {
	if s, ok := jsonFloatString(f); ok {
		return structpb.NewStringValue(s)
	}
	return structpb.NewNumberValue(jsonFloat(f, bitSize))
}

// jsonFloatString is the string protojson writes for a float that is not
// finite (NaN, Infinity, -Infinity).
func jsonFloatString(f float64) (string, bool) {
	switch {
	case math.IsNaN(f):
		return "NaN", true
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	}
	return "", false
}

// jsonFloat is the number a finite float of bitSize bits reads back as
// after protojson writes it (a float32 is written in its shortest form).
func jsonFloat(f float64, bitSize int) float64 {
	if bitSize == 32 {
		f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
	}
	return f
}

// messageValue encodes a message field, well-known types included.
func (c structConv) messageValue(m protoreflect.Message) (*structpb.Value, error) {
	name := m.Descriptor().FullName()
	if !hasSpecialJSON(name) {
		s, err := c.messageStruct(m, "")
		if err != nil {
			return nil, err
		}
		return structpb.NewStructValue(s), nil
	}
	fields := m.Descriptor().Fields()
	switch name.Name() {
	case "Any":
		return c.anyValue(m)
	case "Duration":
		secs, nanos := m.Get(fields.ByNumber(1)).Int(), m.Get(fields.ByNumber(2)).Int()
		if secs < -315576000000 || secs > 315576000000 || nanos <= -1e9 || nanos >= 1e9 || (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
			return nil, errSlowPath
		}
		sign := ""
		if secs < 0 || nanos < 0 {
			sign, secs, nanos = "-", -secs, -nanos
		}
		return structpb.NewStringValue(trimFraction(fmt.Sprintf("%s%d.%09d", sign, secs, nanos)) + "s"), nil
	case "Timestamp":
		secs, nanos := m.Get(fields.ByNumber(1)).Int(), m.Get(fields.ByNumber(2)).Int()
		if secs < -62135596800 || secs > 253402300799 || nanos < 0 || nanos >= 1e9 {
			return nil, errSlowPath
		}
		return structpb.NewStringValue(trimFraction(time.Unix(secs, nanos).UTC().Format("2006-01-02T15:04:05.000000000")) + "Z"), nil
	case "BoolValue", "Int32Value", "Int64Value", "UInt32Value", "UInt64Value", "FloatValue", "DoubleValue", "StringValue", "BytesValue":
		fd := fields.ByNumber(1)
		return c.singular(fd, m.Get(fd))
	case "Struct", "ListValue", "Value":
		return knownValue(m.Interface())
	}
	return nil, errSlowPath // FieldMask
}

// trimFraction drops trailing zeros of a 9-digit fraction in groups of
// three, and the fraction when it is all zeros.
func trimFraction(x string) string {
	x = strings.TrimSuffix(x, "000")
	x = strings.TrimSuffix(x, "000")
	return strings.TrimSuffix(x, ".000")
}

// anyValue encodes an Any as protojson does: its type and the packed
// message's fields, or its type and "value" for a well-known type.
func (c structConv) anyValue(m protoreflect.Message) (*structpb.Value, error) {
	fields := m.Descriptor().Fields()
	typeURL, value := m.Get(fields.ByNumber(1)).String(), m.Get(fields.ByNumber(2)).Bytes()
	if typeURL == "" {
		if len(value) == 0 {
			return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{}}), nil
		}
		return nil, errSlowPath
	}
	inner, err := anyInner(c.u, m, typeURL, value)
	if err != nil {
		return nil, err
	}
	if hasSpecialJSON(inner.Descriptor().FullName()) {
		v, err := c.messageValue(inner)
		if err != nil {
			return nil, err
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"@type": structpb.NewStringValue(typeURL), "value": v}}), nil
	}
	s, err := c.messageStruct(inner, typeURL)
	if err != nil {
		return nil, err
	}
	return structpb.NewStructValue(s), nil
}

// anyInner is the message an Any (m, with typeURL and value) packs: the
// one the gates decoded already (u, without AllowPartial: a message that
// decodes so decodes the same with it), else decoded here; errSlowPath
// when its type is unknown or it does not decode.
func anyInner(u *xds.Unpacked, m protoreflect.Message, typeURL string, value []byte) (protoreflect.Message, error) {
	if u != nil {
		if a, ok := m.Interface().(*anypb.Any); ok {
			if msg, err := u.Unpack(a); err == nil {
				return msg.ProtoReflect(), nil
			}
		}
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
	if err != nil {
		return nil, errSlowPath
	}
	inner := mt.New()
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(value, inner.Interface()); err != nil {
		return nil, errSlowPath
	}
	return inner, nil
}

// knownValue copies a Struct, ListValue or Value, refusing what protojson
// refuses (a Value without a kind, a number that is not finite).
func knownValue(m proto.Message) (*structpb.Value, error) {
	switch x := m.(type) {
	case *structpb.Struct:
		out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(x.GetFields()))}
		for k, v := range x.GetFields() {
			c, err := knownValue(v)
			if err != nil {
				return nil, err
			}
			if !utf8.ValidString(k) {
				return nil, errSlowPath
			}
			out.Fields[k] = c
		}
		return structpb.NewStructValue(out), nil
	case *structpb.ListValue:
		out := &structpb.ListValue{Values: make([]*structpb.Value, len(x.GetValues()))}
		for i, v := range x.GetValues() {
			c, err := knownValue(v)
			if err != nil {
				return nil, err
			}
			out.Values[i] = c
		}
		return structpb.NewListValue(out), nil
	case *structpb.Value:
		switch k := x.GetKind().(type) {
		case *structpb.Value_NullValue:
			return structpb.NewNullValue(), nil
		case *structpb.Value_BoolValue:
			return structpb.NewBoolValue(k.BoolValue), nil
		case *structpb.Value_StringValue:
			if !utf8.ValidString(k.StringValue) {
				return nil, errSlowPath
			}
			return structpb.NewStringValue(k.StringValue), nil
		case *structpb.Value_NumberValue:
			if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
				return nil, errSlowPath
			}
			return structpb.NewNumberValue(k.NumberValue), nil
		case *structpb.Value_StructValue:
			if k.StructValue == nil {
				return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{}}), nil
			}
			return knownValue(k.StructValue)
		case *structpb.Value_ListValue:
			if k.ListValue == nil {
				return structpb.NewListValue(&structpb.ListValue{}), nil
			}
			return knownValue(k.ListValue)
		}
	}
	return nil, errSlowPath
}
