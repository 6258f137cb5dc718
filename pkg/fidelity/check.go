package fidelity

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aeraki-ng/aeraki/internal/protofield"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Reasons of findings, used as diagnostic reasons.
const (
	// ReasonExtensionMissing is an extension the proxy's build lacks: the
	// proxy rejects the resource.
	ReasonExtensionMissing = "ExtensionNotInProxy"
	// ReasonNotImplemented is a field, message or enum value Envoy marks
	// not implemented: the proxy accepts it and ignores it.
	ReasonNotImplemented = "NotImplementedByProxy"
	// ReasonDeprecated is a deprecated field or enum value: it works today
	// and may stop working.
	ReasonDeprecated = "DeprecatedField"
)

// Extension names the checker requires for config that is not a typed
// extension of its own.
const (
	// InternalListenerExtension is the bootstrap extension internal
	// listeners and envoy_internal_address need.
	InternalListenerExtension = "envoy.bootstrap.internal_listener"
)

// Finding is one thing a proxy would not run as written.
type Finding struct {
	// Severity is error for what is refused (missing extension, not
	// implemented) and warning for what is deprecated.
	Severity model.Severity
	// Reason is one of the Reason constants.
	Reason string
	// Path is where in the checked message, in Envoy's field names.
	Path string
	// Extension is the extension name the config gives, when it gives one.
	Extension string
	// Type is the full name of the extension's config type, when known.
	Type string
	// Field is the full protobuf name of the field, message or enum value
	// a not-implemented or deprecated finding is about.
	Field string
	// Carriers are the known profiles that would accept the extension.
	Carriers []string
	// Message says it all in a sentence.
	Message string
}

// String is the finding's message.
func (f Finding) String() string { return f.Message }

// Refuses reports whether the finding makes the config unusable.
func (f Finding) Refuses() bool { return f.Severity == model.SeverityError }

// Errors returns the refusing findings of fs.
func Errors(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Refuses() {
			out = append(out, f)
		}
	}
	return out
}

// EnvoyError is the error Envoy's registry raises for an extension it does
// not have: getAndCheckFactory tries the config's type, then its name, and
// fails with the by-name message (source/common/config/registry_utils.h);
// an entry of a map keyed by filter name fails with the name and type
// (source/common/router/per_filter_config.cc).
func EnvoyError(name, typeName string) string {
	if name != "" {
		return fmt.Sprintf("Didn't find a registered implementation for name: '%s'", name)
	}
	return fmt.Sprintf("Didn't find a registered implementation for type: '%s'", typeName)
}

// Checker checks config against profiles. The zero value names, in its
// findings, the built-in profiles that would carry what is missing; set
// Catalog to include custom builds.
type Checker struct {
	// Catalog is where carriers are looked up; profile.Builtin() when nil.
	Catalog *profile.Catalog
	// Unpacked, when set, decodes the Any values of the checked config,
	// each once across the checks that share it (the translator's gates
	// walk the same filters one after another); nil decodes every Any
	// each time it is met.
	Unpacked *xds.Unpacked
	// Memo, when set, keeps what the walk needs of each message type
	// across checks (it is safe for concurrent use); nil works the types
	// out again in each Check, which costs more than the walk it saves
	// unless many messages are checked.
	Memo *Memo
	// Scratch, when set, is the walk's working memory, reused by each
	// Check instead of made anew; a Checker with one is not safe for
	// concurrent use.
	Scratch *Scratch
}

// Scratch is the working memory of a Check (its path and field stacks),
// kept by a caller that checks many messages one after another. The zero
// value is ready to use. It is not safe for concurrent use.
type Scratch struct {
	w walker
}

// Check is Checker{}.Check.
func Check(p *profile.Profile, m proto.Message) []Finding { return Checker{}.Check(p, m) }

// Check walks m, through every Any it can decode, and returns what the
// build p would reject or ignore, in walk order. Inside an extension the
// build lacks it does not look further: Envoy stops there too.
func (c Checker) Check(p *profile.Profile, m proto.Message) []Finding {
	if m == nil {
		return nil
	}
	cat := c.Catalog
	if cat == nil {
		cat = profile.Builtin()
	}
	memo := c.Memo
	if memo == nil {
		memo = NewMemo()
	}
	var w *walker
	if c.Scratch != nil {
		w = &c.Scratch.w
	} else {
		w = &walker{}
	}
	if w.self != w { // new, or a copied Scratch: collect must append to w
		w.self, w.collect = w, w.collectField
		w.stack, w.fields = make([]segment, 0, 16), make([]fieldValue, 0, 32)
	}
	w.p, w.cat, w.unpacked, w.memo = p, cat, c.Unpacked, memo
	pm := m.ProtoReflect()
	w.push(0, string(pm.Descriptor().Name()))
	w.message(pm, memo.of(pm.Descriptor()))
	out := w.out
	// Nothing of this walk is kept: the scratch holds no messages.
	clear(w.fields[:cap(w.fields)])
	clear(w.stack[:cap(w.stack)])
	*w = walker{self: w, collect: w.collect, stack: w.stack[:0], fields: w.fields[:0]}
	return out
}

type walker struct {
	p        *profile.Profile
	cat      *profile.Catalog
	unpacked *xds.Unpacked
	memo     *Memo
	out      []Finding
	seen     map[string]bool // path|key, so a message reached twice reports once
	stack    []segment       // where the walk is; rendered (path) only for a finding
	// fields holds the populated fields of the messages being walked, the
	// innermost last (a stack shared by every level, so that a message
	// costs no allocation of its own), only those that may report
	// anything; collect is w.collectField, made once, and cur the type
	// of the message whose fields it collects.
	fields  []fieldValue
	collect func(protoreflect.FieldDescriptor, protoreflect.Value) bool
	self    *walker // whom collect appends to
	cur     *typeInfo
}

type fieldValue struct {
	fd protoreflect.FieldDescriptor
	v  protoreflect.Value
	// list is a list of messages read through its Go struct (then v is
	// not set).
	list reflect.Value
}

// directOf is the struct of m and how to read ti's walked fields in it,
// when m is a generated message whose fields can be read so.
func (w *walker) directOf(ti *typeInfo, m protoreflect.Message) (reflect.Value, *directInfo, bool) {
	mt := m.Type()
	d := ti.direct.Load()
	if d == nil || d.mt != mt {
		fds := make([]protoreflect.FieldDescriptor, len(ti.walked))
		for i := range ti.walked {
			fds[i] = ti.walked[i].fd
		}
		goType, fields := protofield.Fields(mt, fds)
		d = &directInfo{mt: mt, goType: goType, fields: fields}
		ti.direct.Store(d)
	}
	sv, ok := protofield.Struct(m, d.goType)
	return sv, d, ok
}

func (w *walker) collectField(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	if fd.IsExtension() || w.cur.fields[fd.Index()].walk {
		w.fields = append(w.fields, fieldValue{fd: fd, v: v})
	}
	return true
}

// segment is one step of a path: ".name", "[3]" (index >= 0), "[key]"
// or "<Type>", after sep; the first has no separator.
type segment struct {
	sep   byte
	s     string
	index int
}

func (w *walker) push(sep byte, s string) {
	w.stack = append(w.stack, segment{sep: sep, s: s, index: -1})
}
func (w *walker) pushIndex(i int) { w.stack = append(w.stack, segment{sep: '[', index: i}) }
func (w *walker) pop()            { w.stack = w.stack[:len(w.stack)-1] }

// path renders where the walk is, in Envoy's field names.
func (w *walker) path() string {
	var b strings.Builder
	for _, sg := range w.stack {
		switch {
		case sg.index >= 0:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(sg.index))
			b.WriteByte(']')
		case sg.sep == '[':
			b.WriteByte('[')
			b.WriteString(sg.s)
			b.WriteByte(']')
		case sg.sep == '<':
			b.WriteByte('<')
			b.WriteString(sg.s)
			b.WriteByte('>')
		default:
			if sg.sep != 0 {
				b.WriteByte(sg.sep)
			}
			b.WriteString(sg.s)
		}
	}
	return b.String()
}

func (w *walker) add(f Finding) {
	k := f.Path + "|" + f.Reason + "|" + f.Extension + "|" + f.Type + "|" + f.Field
	if w.seen[k] {
		return
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[k] = true
	w.out = append(w.out, f)
}

// use records an extension use, at the walk's path: name (may be empty)
// with a config of typeName.
func (w *walker) use(name, typeName string) bool {
	if w.p.Supports(name, typeName) {
		return true
	}
	path := w.path()
	f := Finding{Severity: model.SeverityError, Reason: ReasonExtensionMissing, Path: path, Extension: name, Type: typeName,
		Carriers: w.cat.Carriers(name, typeName)}
	what := "extension " + name
	switch {
	case name == "":
		what = "an extension with config type " + typeName
	case typeName != "":
		what += " (config type " + typeName + ")"
	}
	f.Message = fmt.Sprintf("%s: %s is not in the %s build, so the proxy rejects the resource (\"%s\"); %s",
		path, what, w.p.Name, EnvoyError(name, typeName), carriedBy(f.Carriers))
	w.add(f)
	return false
}

func carriedBy(carriers []string) string {
	if len(carriers) == 0 {
		return "no known proxy build has it"
	}
	return "builds that have it: " + strings.Join(carriers, ", ")
}

// message walks m, of type ti; a type that can hold nothing the walk
// reports (Metadata among them) is not entered.
func (w *walker) message(m protoreflect.Message, ti *typeInfo) {
	if !ti.reports || !m.IsValid() {
		return
	}
	if ti.hasMarker {
		w.notImplemented(ti.full, ti.marker)
	}
	if ti.implicit {
		w.implicit(m)
	}
	// The populated fields that may report, in field-number order (Range
	// visits them in no fixed order).
	start := len(w.fields)
	if ti.ranged {
		w.cur = ti
		m.Range(w.collect)
		slices.SortFunc(w.fields[start:], func(a, b fieldValue) int { return int(a.fd.Number()) - int(b.fd.Number()) })
	} else if sv, d, ok := w.directOf(ti, m); ok {
		// The same, message fields read through the Go struct.
		for i := range ti.walked {
			f, df := &ti.walked[i], &d.fields[i]
			switch df.How {
			case protofield.Pointer, protofield.Oneof:
				if mm, ok := df.Message(sv); ok {
					w.fields = append(w.fields, fieldValue{fd: f.fd, v: protoreflect.ValueOfMessage(mm)})
				}
			case protofield.List:
				if l := df.List(sv); l.Len() > 0 {
					w.fields = append(w.fields, fieldValue{fd: f.fd, list: l})
				}
			default:
				if m.Has(f.fd) {
					w.fields = append(w.fields, fieldValue{fd: f.fd, v: m.Get(f.fd)})
				}
			}
		}
	} else {
		// The fields that may report, asked for one by one, already in
		// number order: what Range and the sort gave, at a fraction of
		// the cost.
		for _, f := range ti.walked {
			if f.single {
				if v := m.Get(f.fd); v.Message().IsValid() {
					w.fields = append(w.fields, fieldValue{fd: f.fd, v: v})
				}
			} else if m.Has(f.fd) {
				w.fields = append(w.fields, fieldValue{fd: f.fd, v: m.Get(f.fd)})
			}
		}
	}
	n := len(w.fields) - start
	if n == 0 {
		return
	}
	defer func() { w.fields = w.fields[:start] }()
	// A "name" string paired with one Any is an extension config.
	var pairedAny protoreflect.FieldDescriptor
	if ti.name != nil {
		anys := 0
		for _, f := range w.fields[start:] {
			if w.info(ti, f.fd).pairable {
				anys++
				pairedAny = f.fd
			}
		}
		if anys != 1 {
			pairedAny = nil
		}
	}
	for i := range n {
		fd, v, rl := w.fields[start+i].fd, w.fields[start+i].v, w.fields[start+i].list // w.fields grows below this level and shrinks back
		fi := w.info(ti, fd)
		w.push('.', string(fd.Name()))
		if fi.hasMarker {
			w.notImplemented(fi.full, fi.marker)
		}
		if fi.deprecated {
			w.deprecated(fi.full)
		}
		switch {
		case !fi.values:
		case rl.IsValid(): // a list of messages read through the struct
			for i := 0; i < rl.Len(); i++ {
				w.pushIndex(i)
				if fi.child != nil {
					w.value(protofield.MessageOf(rl.Index(i)), "", fi.any, fi.child)
				}
				w.pop()
			}
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.pushIndex(i)
				if fi.enum != nil {
					w.enumValue(fd, fi.enum, l.Get(i).Enum())
				}
				if fi.child != nil {
					w.value(l.Get(i).Message(), "", fi.any, fi.child)
				}
				w.pop()
			}
		case fd.IsMap():
			if fi.child == nil {
				break
			}
			keys := make([]protoreflect.MapKey, 0, v.Map().Len())
			v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			for _, k := range keys {
				name := ""
				if fd.MapKey().Kind() == protoreflect.StringKind {
					name = k.String()
				}
				w.push('[', k.String())
				w.value(v.Map().Get(k).Message(), name, fi.any, fi.child)
				w.pop()
			}
		case fi.enum != nil:
			w.enumValue(fd, fi.enum, v.Enum())
		case fi.child != nil:
			name := ""
			if fd == pairedAny {
				name = m.Get(ti.name).String()
			}
			w.value(v.Message(), name, fi.any, fi.child)
		}
		w.pop()
	}
}

// info is the facts of field fd of a message of type ti: by index, or
// worked out for an extension field.
func (w *walker) info(ti *typeInfo, fd protoreflect.FieldDescriptor) *fieldInfo {
	if !fd.IsExtension() {
		return &ti.fields[fd.Index()]
	}
	fi := fieldFacts(fd, w.memo.of, newEnumInfo)
	fi.walk, fi.values = true, true
	return &fi
}

// value walks a message-typed value of type ti; an Any is an extension
// use (named when the enclosing message or map key names it) and is
// walked unpacked.
func (w *walker) value(m protoreflect.Message, name string, any bool, ti *typeInfo) {
	if !any {
		w.message(m, ti)
		return
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok || a.GetTypeUrl() == "" {
		if name != "" {
			w.use(name, "")
		}
		return
	}
	typeName := typeOf(a)
	if !w.use(name, typeName) {
		return // Envoy stops at the extension it cannot find
	}
	inner, err := w.unpacked.Unpack(a)
	if err != nil {
		return // not linked in: nothing more to see
	}
	switch inner.(type) {
	case *xdstypev3.TypedStruct, *udpatypev1.TypedStruct:
		return // a Struct: no typed fields to check
	}
	im := inner.ProtoReflect()
	w.push('<', string(im.Descriptor().Name()))
	w.message(im, w.memo.of(im.Descriptor()))
	w.pop()
}

// typeOf is the type Envoy looks an Any up by: the Any's own type, or the
// type URL inside a TypedStruct (registry_utils.h getFactoryType).
func typeOf(a *anypb.Any) string {
	t := a.GetTypeUrl()
	if i := strings.LastIndex(t, "/"); i >= 0 {
		t = t[i+1:]
	}
	switch t {
	case "xds.type.v3.TypedStruct":
		ts := &xdstypev3.TypedStruct{}
		if a.UnmarshalTo(ts) == nil {
			return typeOf(&anypb.Any{TypeUrl: ts.GetTypeUrl()})
		}
	case "udpa.type.v1.TypedStruct":
		ts := &udpatypev1.TypedStruct{}
		if a.UnmarshalTo(ts) == nil {
			return typeOf(&anypb.Any{TypeUrl: ts.GetTypeUrl()})
		}
	}
	return t
}

// enumValue reports value n of enum field fd, of type ei, when Envoy
// marks it not implemented or deprecated.
func (w *walker) enumValue(fd protoreflect.FieldDescriptor, ei *enumInfo, n protoreflect.EnumNumber) {
	ev := fd.Enum().Values().ByNumber(n)
	if ev == nil {
		return
	}
	vi := &ei.values[ev.Index()]
	if vi.hasMarker {
		w.notImplemented(vi.full, vi.marker)
	}
	if vi.deprecated {
		w.deprecated(vi.full)
	}
}

func (w *walker) notImplemented(full, marker string) {
	path := w.path()
	w.add(Finding{Severity: model.SeverityError, Reason: ReasonNotImplemented, Path: path, Field: full,
		Message: fmt.Sprintf("%s: %s is marked %s in Envoy's API (%s): Envoy accepts it and does not act on it", path, full, marker, notImplementedSource)})
}

func (w *walker) deprecated(full string) {
	path := w.path()
	w.add(Finding{Severity: model.SeverityWarning, Reason: ReasonDeprecated, Path: path, Field: full,
		Message: fmt.Sprintf("%s: %s is deprecated in Envoy's API (%s)", path, full, notImplementedSource)})
}

// implicit records the extensions a message needs without naming them:
// the cluster type its discovery type selects, the internal listener
// bootstrap extension.
func (w *walker) implicit(m protoreflect.Message) {
	switch x := m.Interface().(type) {
	case *clusterv3.Cluster:
		if x.GetClusterType() == nil {
			if name, ok := clusterTypes[x.GetType()]; ok {
				w.push('.', "type")
				w.use(name, "")
				w.pop()
			}
		}
	}
	switch m.Descriptor().FullName() {
	case "envoy.config.listener.v3.Listener":
		if fd := m.Descriptor().Fields().ByName("internal_listener"); fd != nil && m.Has(fd) {
			w.push('.', "internal_listener")
			w.use(InternalListenerExtension, "")
			w.pop()
		}
	case "envoy.config.core.v3.Address":
		if fd := m.Descriptor().Fields().ByName("envoy_internal_address"); fd != nil && m.Has(fd) {
			w.push('.', "envoy_internal_address")
			w.use(InternalListenerExtension, "")
			w.pop()
		}
	}
}

// clusterTypes are the extensions Cluster.type selects: Envoy's
// ClusterFactoryImplBase::create (source/common/upstream/cluster_factory_impl.cc)
// maps a discovery type to its cluster factory, which the extension config
// lists as envoy.clusters.<type>.
var clusterTypes = map[clusterv3.Cluster_DiscoveryType]string{
	clusterv3.Cluster_STATIC:       "envoy.clusters.static",
	clusterv3.Cluster_STRICT_DNS:   "envoy.clusters.strict_dns",
	clusterv3.Cluster_LOGICAL_DNS:  "envoy.clusters.logical_dns",
	clusterv3.Cluster_EDS:          "envoy.clusters.eds",
	clusterv3.Cluster_ORIGINAL_DST: "envoy.clusters.original_dst",
}
