package translate_test

import (
	"math"
	"math/rand/v2"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/internal/translate"
)

// TestStructWireMatchesRandomMessages fills Envoy messages at random
// (every kind of field: maps, oneofs, Any of ordinary and well-known
// types, Duration, Timestamp, wrappers, Struct and Value, unknown enum
// numbers, 64-bit integers, NaN, infinities, -0, floats that a float32
// rounds, bytes, strings that are not UTF-8) and checks that the encoding
// unit builds publish, written straight from the message, is byte for
// byte proto.Marshal's of the Struct the JSON round trip makes, and that
// it gives up (for the Struct route) exactly when the direct Struct
// conversion does.
func TestStructWireMatchesRandomMessages(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 2026))
	kinds := []func() proto.Message{
		func() proto.Message { return &clusterv3.Cluster{} },
		func() proto.Message { return &hcmv3.HttpConnectionManager{} },
		func() proto.Message { return &routev3.RouteConfiguration{} },
		func() proto.Message { return &listenerv3.Filter{} },
	}
	opts := proto.MarshalOptions{Deterministic: true}
	compared, slow := 0, 0
	for i := range 3000 {
		m := kinds[i%len(kinds)]()
		g := &gen{r: r}
		g.fill(m.ProtoReflect(), 0)
		wire, werr := translate.StructWire(m)
		s, serr := translate.StructOf(m)
		if (werr == nil) != (serr == nil) {
			t.Fatalf("message %d (%T): direct encoding error %v, direct Struct error %v\n%v", i, m, werr, serr, m)
		}
		if serr != nil {
			slow++
			continue
		}
		want, _ := opts.Marshal(translate.StructByJSON(m))
		got, _ := opts.Marshal(s)
		if string(got) != string(want) {
			t.Fatalf("message %d (%T): the direct Struct differs from the JSON round trip\n%v", i, m, m)
		}
		if string(wire) != string(want) {
			t.Fatalf("message %d (%T): the direct encoding (%d bytes) differs from proto.Marshal of the Struct (%d bytes)\n%v", i, m, len(wire), len(want), m)
		}
		compared++
	}
	if compared < 1000 || slow == 0 {
		t.Fatalf("compared %d messages, %d took the Struct route: the generator no longer reaches both", compared, slow)
	}
	t.Logf("%d messages compared, %d left to the Struct route", compared, slow)
}

// gen fills messages with random values.
type gen struct {
	r *rand.Rand
}

func (g *gen) fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	p := 3 + 3*depth // fewer fields the deeper
	for i := range fields.Len() {
		fd := fields.Get(i)
		if g.r.IntN(p) != 0 {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range g.r.IntN(3) + 1 {
				if v, ok := g.value(fd, l.NewElement, depth); ok {
					l.Append(v)
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range g.r.IntN(3) + 1 {
				k := g.scalar(fd.MapKey())
				if v, ok := g.value(fd.MapValue(), mp.NewValue, depth); ok {
					mp.Set(k.MapKey(), v)
				}
			}
		default:
			if v, ok := g.value(fd, func() protoreflect.Value { return m.NewField(fd) }, depth); ok {
				m.Set(fd, v)
			}
		}
	}
}

func (g *gen) value(fd protoreflect.FieldDescriptor, newMsg func() protoreflect.Value, depth int) (protoreflect.Value, bool) {
	if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
		return g.scalar(fd), true
	}
	if depth > 5 {
		return protoreflect.Value{}, false
	}
	v := newMsg()
	m := v.Message()
	switch m.Descriptor().FullName() {
	case "google.protobuf.Any":
		a := g.anyOf(depth)
		proto.Merge(m.Interface(), a)
	case "google.protobuf.Duration":
		proto.Merge(m.Interface(), g.duration())
	case "google.protobuf.Timestamp":
		proto.Merge(m.Interface(), &timestamppb.Timestamp{Seconds: g.r.Int64N(4e9) - 1e9, Nanos: int32(g.r.IntN(1e9))})
	case "google.protobuf.Struct":
		proto.Merge(m.Interface(), g.structValue(depth))
	case "google.protobuf.Value":
		proto.Merge(m.Interface(), g.jsonValue(depth))
	case "google.protobuf.ListValue":
		proto.Merge(m.Interface(), &structpb.ListValue{Values: []*structpb.Value{g.jsonValue(depth + 1), g.jsonValue(depth + 1)}})
	default:
		g.fill(m, depth+1)
	}
	return v, true
}

func (g *gen) duration() *durationpb.Duration {
	switch g.r.IntN(4) {
	case 0:
		return &durationpb.Duration{Seconds: g.r.Int64N(1000)}
	case 1:
		return &durationpb.Duration{Seconds: -g.r.Int64N(1000), Nanos: -int32(g.r.IntN(1e9))}
	case 2:
		return &durationpb.Duration{Nanos: int32(g.r.IntN(1000)) * 1000}
	}
	return &durationpb.Duration{Seconds: 1, Nanos: -1} // invalid: protojson refuses it
}

func (g *gen) anyOf(depth int) *anypb.Any {
	var m proto.Message
	switch g.r.IntN(10) {
	case 0:
		m = g.duration()
	case 1:
		m = wrapperspb.UInt64(g.r.Uint64())
	case 2:
		m = wrapperspb.Float(float32(g.r.NormFloat64()))
	case 3:
		m = g.structValue(depth)
	case 4:
		m = g.jsonValue(depth)
	case 5:
		m = &emptypb.Empty{}
	case 6:
		return &anypb.Any{}
	case 7:
		m = &typev3.Int64Range{Start: g.r.Int64(), End: -g.r.Int64()}
	default:
		c := &routev3.VirtualHost{}
		g.fill(c.ProtoReflect(), depth+2)
		m = c
	}
	a, err := anypb.New(m)
	if err != nil { // a string in it is not UTF-8: proto.Marshal refuses it
		a, _ = anypb.New(&emptypb.Empty{})
	}
	return a
}

func (g *gen) structValue(depth int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for range g.r.IntN(4) {
		s.Fields[g.str()] = g.jsonValue(depth + 1)
	}
	return s
}

func (g *gen) jsonValue(depth int) *structpb.Value {
	n := 6
	if depth > 4 {
		n = 4
	}
	switch g.r.IntN(n) {
	case 0:
		return structpb.NewNullValue()
	case 1:
		return structpb.NewBoolValue(g.r.IntN(2) == 0)
	case 2:
		if g.r.IntN(20) == 0 {
			return structpb.NewNumberValue(math.Inf(1)) // protojson refuses it
		}
		return structpb.NewNumberValue(g.r.NormFloat64() * 1e6)
	case 3:
		return structpb.NewStringValue(g.str())
	case 4:
		return structpb.NewStructValue(g.structValue(depth + 1))
	}
	return structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{g.jsonValue(depth + 1)}})
}

// str is a short string, now and then with characters past ASCII, and
// rarely not UTF-8 at all.
func (g *gen) str() string {
	const chars = "abcXYZ09_-.:/@ é日\x00"
	b := []rune{}
	for range g.r.IntN(8) {
		rs := []rune(chars)
		b = append(b, rs[g.r.IntN(len(rs))])
	}
	if g.r.IntN(400) == 0 {
		return string(b) + "\xff"
	}
	return string(b)
}

func (g *gen) scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(g.r.IntN(2) == 0)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(g.str())
	case protoreflect.BytesKind:
		b := make([]byte, g.r.IntN(6))
		for i := range b {
			b[i] = byte(g.r.UintN(256))
		}
		return protoreflect.ValueOfBytes(b)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{0, -1, 7, math.MaxInt32, math.MinInt32}[g.r.IntN(5)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 1, 80, math.MaxUint32}[g.r.IntN(4)])
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, -1, 1 << 53, 1<<53 + 1, math.MaxInt64, math.MinInt64}[g.r.IntN(6)])
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 1, 1<<53 + 1, math.MaxUint64}[g.r.IntN(4)])
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32([]float32{0, 0.1, -1.5e-7, 3.4e38, float32(math.NaN()), float32(math.Inf(1)), float32(math.Copysign(0, -1))}[g.r.IntN(7)])
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{0, 0.1, 1e-300, -2.5, math.NaN(), math.Inf(-1), math.Copysign(0, -1), 1e21}[g.r.IntN(8)])
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if g.r.IntN(8) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(999)) // not a value of the enum
		}
		return protoreflect.ValueOfEnum(vals.Get(g.r.IntN(vals.Len())).Number())
	}
	panic("no value for " + fd.FullName())
}
