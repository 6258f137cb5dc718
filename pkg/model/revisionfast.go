package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// An object's revision is computed from one JSON encoding of what the
// model reads of it, field by field, rather than by encoding the object,
// decoding it into maps to drop the bookkeeping and encoding it again:
// the Kubernetes source hashes every object it is handed (50,000 at
// 10,000 services), and the three passes were a sixth of its CPU while
// its informers synced. The fields hashed are the same: the kind, the
// metadata without what the API server changes on every write, every
// other top-level field, and of the status only what Kind.ReadStatus
// names. Objects of another shape (no embedded TypeMeta and ObjectMeta,
// or their own JSON encoding) take the three passes.

// objectLayout is where a Go type of Kubernetes object keeps its parts.
type objectLayout struct {
	ok       bool
	typeMeta int
	meta     int
	status   int            // -1: none
	fields   []layoutField  // the other top-level fields, in declaration order
	statusOf map[string]int // status field index by JSON name (status a struct)
	statusP  bool           // status is a pointer to a struct
}

type layoutField struct {
	index int
	name  string
}

var (
	typeMetaType   = reflect.TypeFor[metav1.TypeMeta]()
	objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	layouts        sync.Map // reflect.Type -> *objectLayout
)

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return f.Name
	}
	return name
}

func layoutOf(t reflect.Type) *objectLayout {
	if l, ok := layouts.Load(t); ok {
		return l.(*objectLayout)
	}
	l := &objectLayout{typeMeta: -1, meta: -1, status: -1}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		layouts.Store(t, l)
		return l
	}
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case !f.IsExported() || f.Tag.Get("json") == "-":
		case f.Anonymous && f.Type == typeMetaType:
			l.typeMeta = i
		case f.Anonymous && f.Type == objectMetaType:
			l.meta = i
		case f.Anonymous:
			layouts.Store(t, l) // another embedded struct: its fields are inlined; not this shape
			return l
		case jsonName(f) == "status":
			st := f.Type
			if st.Kind() == reflect.Pointer {
				st, l.statusP = st.Elem(), true
			}
			if st.Kind() != reflect.Struct {
				layouts.Store(t, l)
				return l
			}
			l.status = i
			l.statusOf = map[string]int{}
			for j := range st.NumField() {
				if sf := st.Field(j); sf.IsExported() && !sf.Anonymous {
					l.statusOf[jsonName(sf)] = j
				}
			}
		default:
			l.fields = append(l.fields, layoutField{index: i, name: jsonName(f)})
		}
	}
	l.ok = l.typeMeta >= 0 && l.meta >= 0
	layouts.Store(t, l)
	return l
}

// fastRevision is the revision of obj from one encoding of what the model
// reads of it; ok is false for an object of another shape.
func fastRevision(obj runtime.Object, readStatus []string) (rev Revision, ok bool, err error) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return "", false, nil
	}
	sv := v.Elem()
	l := layoutOf(sv.Type())
	if !l.ok {
		return "", false, nil
	}
	buf := make([]byte, 0, 1024)
	put := func(name string, val any) error {
		b, err := json.Marshal(val)
		if err != nil {
			return err
		}
		buf = append(buf, ',', '"')
		buf = append(buf, name...)
		buf = append(buf, '"', ':')
		buf = append(buf, b...)
		return nil
	}
	buf = append(buf, '{', '"', 'k', '"', ':')
	kind, _ := json.Marshal(sv.Field(l.typeMeta).Addr().Interface().(*metav1.TypeMeta).Kind)
	buf = append(buf, kind...)
	meta := *sv.Field(l.meta).Addr().Interface().(*metav1.ObjectMeta) // a copy; its maps are not written
	meta.ResourceVersion, meta.ManagedFields, meta.UID, meta.Generation, meta.SelfLink = "", nil, "", 0, ""
	if _, has := meta.Annotations[lastAppliedConfig]; has {
		trimmed := make(map[string]string, len(meta.Annotations)-1)
		for k, a := range meta.Annotations {
			if k != lastAppliedConfig {
				trimmed[k] = a
			}
		}
		meta.Annotations = trimmed
	}
	if err := put("metadata", &meta); err != nil {
		return "", true, err
	}
	for _, f := range l.fields {
		if err := put(f.name, sv.Field(f.index).Addr().Interface()); err != nil {
			return "", true, err
		}
	}
	if l.status >= 0 && len(readStatus) > 0 {
		st := sv.Field(l.status)
		if l.statusP {
			st = st.Elem()
		}
		if st.IsValid() {
			buf = append(buf, `,"status":{`...)
			n := len(buf)
			for _, name := range readStatus {
				j, found := l.statusOf[name]
				if !found || empty(st.Field(j)) {
					continue // as encoding/json's omitempty leaves it out
				}
				if err := put(name, st.Field(j).Addr().Interface()); err != nil {
					return "", true, err
				}
			}
			if len(buf) > n {
				buf[n] = ' ' // the first field's comma
			}
			buf = append(buf, '}')
		}
	}
	buf = append(buf, '}')
	sum := sha256.Sum256(buf)
	return Revision(hex.EncodeToString(sum[:8])), true, nil
}

func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	}
	return v.IsZero()
}
