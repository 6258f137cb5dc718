// Package protofield reads the message fields of generated protobuf
// messages through their Go structs: a field index and a nil check, where
// protoreflect's accessors look a pointer type up in a map shared by the
// process for each read, which was most of what the config checks'
// walks (pkg/xds, pkg/fidelity) cost. It reads what protoreflect reads:
// a field is set exactly when Has reports it, and gives the same message
// (a nil one, in a list or a oneof, included).
package protofield

import (
	"reflect"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoimpl"
)

// How is how a field is read.
type How uint8

// The ways a field is read.
const (
	// Reflect is through protoreflect (a field that is not a message, a
	// map).
	Reflect How = iota
	// Pointer is a singular message field: set when not nil.
	Pointer
	// List is a repeated message field: set when not empty.
	List
	// Oneof is a oneof's message member: set when the oneof holds this
	// member's wrapper.
	Oneof
)

// Field is how to read one field of a generated struct.
type Field struct {
	How     How
	index   int
	wrapper reflect.Type
}

// Fields works out how to read fds, fields of messages of type mt: goType
// is the Go type (a pointer to struct) the Fields are for, nil when mt is
// not a generated struct or a message field is not held the way
// protoc-gen-go holds it (a pointer, a slice of pointers, a oneof
// wrapper's pointer), and the fields are then to be read through
// protoreflect.
func Fields(mt protoreflect.MessageType, fds []protoreflect.FieldDescriptor) (goType reflect.Type, fields []Field) {
	mi, ok := mt.(*protoimpl.MessageInfo)
	if !ok || mi.GoReflectType == nil || mi.GoReflectType.Kind() != reflect.Ptr || mi.GoReflectType.Elem().Kind() != reflect.Struct {
		return nil, nil
	}
	st := mi.GoReflectType.Elem()
	byNumber := map[protoreflect.FieldNumber]int{}
	byOneof := map[protoreflect.Name]int{}
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		if n, ok := tagNumber(f.Tag.Get("protobuf")); ok {
			byNumber[n] = i
		}
		if o := f.Tag.Get("protobuf_oneof"); o != "" && f.Type.Kind() == reflect.Interface {
			byOneof[protoreflect.Name(o)] = i
		}
	}
	wrappers := map[protoreflect.FieldNumber]reflect.Type{}
	for _, w := range mi.OneofWrappers {
		wt := reflect.TypeOf(w)
		if wt.Kind() != reflect.Ptr || wt.Elem().Kind() != reflect.Struct || wt.Elem().NumField() != 1 {
			return nil, nil
		}
		if n, ok := tagNumber(wt.Elem().Field(0).Tag.Get("protobuf")); ok {
			wrappers[n] = wt
		}
	}
	fields = make([]Field, len(fds))
	for i, fd := range fds {
		od := fd.ContainingOneof()
		switch {
		case fd.IsMap() || fd.Message() == nil:
			fields[i] = Field{How: Reflect}
		case od != nil && !od.IsSynthetic():
			idx, ok := byOneof[od.Name()]
			wt := wrappers[fd.Number()]
			if !ok || wt == nil || !isMessage(wt.Elem().Field(0).Type) {
				return nil, nil
			}
			fields[i] = Field{How: Oneof, index: idx, wrapper: wt}
		case fd.IsList():
			idx, ok := byNumber[fd.Number()]
			if !ok || st.Field(idx).Type.Kind() != reflect.Slice || !isMessage(st.Field(idx).Type.Elem()) {
				return nil, nil
			}
			fields[i] = Field{How: List, index: idx}
		default:
			idx, ok := byNumber[fd.Number()]
			if !ok || !isMessage(st.Field(idx).Type) {
				return nil, nil
			}
			fields[i] = Field{How: Pointer, index: idx}
		}
	}
	return mi.GoReflectType, fields
}

var protoMessage = reflect.TypeOf((*protoreflect.ProtoMessage)(nil)).Elem()

func isMessage(t reflect.Type) bool { return t.Kind() == reflect.Ptr && t.Implements(protoMessage) }

// tagNumber is the field number in a protobuf struct tag
// ("bytes,3,rep,name=...").
func tagNumber(tag string) (protoreflect.FieldNumber, bool) {
	parts := strings.SplitN(tag, ",", 3)
	if len(parts) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, false
	}
	return protoreflect.FieldNumber(n), true
}

// Struct is the struct of msg when it is a valid message of Go type
// goType (Fields), to read fields from.
func Struct(msg protoreflect.Message, goType reflect.Type) (reflect.Value, bool) {
	if goType == nil || !msg.IsValid() {
		return reflect.Value{}, false
	}
	rv := reflect.ValueOf(msg.Interface())
	if rv.Type() != goType {
		return reflect.Value{}, false
	}
	return rv.Elem(), true
}

// Message is the message of a Pointer or Oneof field in struct sv, and
// whether the field is set.
func (f *Field) Message(sv reflect.Value) (protoreflect.Message, bool) {
	v := sv.Field(f.index)
	if v.IsNil() {
		return nil, false
	}
	if f.How == Oneof {
		w := v.Elem()
		if w.Type() != f.wrapper || w.IsNil() {
			return nil, false
		}
		v = w.Elem().Field(0)
	}
	return MessageOf(v), true
}

// List is the slice of a List field in struct sv.
func (f *Field) List(sv reflect.Value) reflect.Value { return sv.Field(f.index) }

// MessageOf is the protoreflect view of a generated message pointer (a
// nil one included: an invalid message, as protoreflect gives for it).
func MessageOf(v reflect.Value) protoreflect.Message {
	return v.Interface().(protoreflect.ProtoMessage).ProtoReflect()
}
