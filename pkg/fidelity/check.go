package fidelity

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"

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
	w := &walker{p: p, cat: cat, unpacked: c.Unpacked, stack: make([]segment, 0, 16), fields: make([]fieldValue, 0, 32)}
	w.collect = w.collectField
	w.push(0, string(m.ProtoReflect().Descriptor().Name()))
	w.message(m.ProtoReflect())
	return w.out
}

type walker struct {
	p        *profile.Profile
	cat      *profile.Catalog
	unpacked *xds.Unpacked
	out      []Finding
	seen     map[string]bool // path|key, so a message reached twice reports once
	stack    []segment       // where the walk is; rendered (path) only for a finding
	// fields holds the populated fields of the messages being walked, the
	// innermost last (a stack shared by every level, so that a message
	// costs no allocation of its own); collect is w.collectField, made once.
	fields  []fieldValue
	collect func(protoreflect.FieldDescriptor, protoreflect.Value) bool
}

type fieldValue struct {
	fd protoreflect.FieldDescriptor
	v  protoreflect.Value
}

func (w *walker) collectField(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	w.fields = append(w.fields, fieldValue{fd, v})
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

func (w *walker) message(m protoreflect.Message) {
	if !m.IsValid() {
		return
	}
	d := m.Descriptor()
	if d.FullName() == "envoy.config.core.v3.Metadata" {
		return
	}
	if marker, ok := notImplemented[string(d.FullName())]; ok {
		w.notImplemented(string(d.FullName()), marker)
	}
	w.implicit(m)
	// The populated fields, in field-number order (Range visits them in no
	// fixed order).
	start := len(w.fields)
	m.Range(w.collect)
	n := len(w.fields) - start
	slices.SortFunc(w.fields[start:], func(a, b fieldValue) int { return int(a.fd.Number()) - int(b.fd.Number()) })
	defer func() { w.fields = w.fields[:start] }()
	// A "name" string paired with one Any is an extension config.
	nameFD := d.Fields().ByName("name")
	var pairedAny protoreflect.FieldDescriptor
	if nameFD != nil && nameFD.Kind() == protoreflect.StringKind && !nameFD.IsList() {
		anys := 0
		for _, f := range w.fields[start:] {
			if fd := f.fd; isAny(fd) && !fd.IsList() && !fd.IsMap() {
				anys++
				pairedAny = fd
			}
		}
		if anys != 1 {
			pairedAny = nil
		}
	}
	for i := range n {
		fd, v := w.fields[start+i].fd, w.fields[start+i].v // w.fields grows below this level and shrinks back
		w.push('.', string(fd.Name()))
		w.field(fd)
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.pushIndex(i)
				if fd.Kind() == protoreflect.EnumKind {
					w.enumValue(fd, l.Get(i).Enum())
				}
				if fd.Message() != nil {
					w.value(l.Get(i).Message(), "", isAny(fd))
				}
				w.pop()
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
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
				w.value(v.Map().Get(k).Message(), name, isAny(fd.MapValue()))
				w.pop()
			}
		case fd.Kind() == protoreflect.EnumKind:
			w.enumValue(fd, v.Enum())
		case fd.Message() != nil:
			name := ""
			if fd == pairedAny {
				name = m.Get(nameFD).String()
			}
			w.value(v.Message(), name, isAny(fd))
		}
		w.pop()
	}
}

// value walks a message-typed value; an Any is an extension use (named
// when the enclosing message or map key names it) and is walked unpacked.
func (w *walker) value(m protoreflect.Message, name string, any bool) {
	if !any {
		w.message(m)
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
	w.push('<', string(inner.ProtoReflect().Descriptor().Name()))
	w.message(inner.ProtoReflect())
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

func isAny(fd protoreflect.FieldDescriptor) bool {
	return fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Any"
}

// field reports a set field Envoy marks not implemented or deprecated.
func (w *walker) field(fd protoreflect.FieldDescriptor) {
	full := string(fd.FullName())
	if marker, ok := notImplemented[full]; ok {
		w.notImplemented(full, marker)
	}
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
		w.deprecated(full)
	}
}

func (w *walker) enumValue(fd protoreflect.FieldDescriptor, n protoreflect.EnumNumber) {
	ev := fd.Enum().Values().ByNumber(n)
	if ev == nil {
		return
	}
	full := string(fd.Enum().FullName()) + "." + string(ev.Name())
	if marker, ok := notImplemented[full]; ok {
		w.notImplemented(full, marker)
	}
	if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
		w.deprecated(full)
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
