package xds

import (
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Walk calls fn on m and on every message nested in it, in field order,
// looking inside Any: for an Any whose type is linked in, fn sees the
// packed message instead of the Any. Config checks (which clusters a
// filter names, which gRPC services it calls) need to see through the
// typed_config of every filter, and this is the one place that does.
func Walk(m proto.Message, fn func(protoreflect.Message)) {
	if m == nil {
		return
	}
	walkMessage(m.ProtoReflect(), fn)
}

func walkMessage(m protoreflect.Message, fn func(protoreflect.Message)) {
	if !m.IsValid() {
		return
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		if inner, err := a.UnmarshalNew(); err == nil {
			walkMessage(inner.ProtoReflect(), fn)
		}
		return
	}
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len(); i++ {
					walkMessage(v.List().Get(i).Message(), fn)
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walkMessage(mv.Message(), fn)
					return true
				})
			}
		case fd.Message() != nil:
			walkMessage(v.Message(), fn)
		}
		return true
	})
}

// ReferencedClusters finds the cluster names anywhere in m, including in
// messages packed in Any: string fields named "cluster" (route actions,
// tcp_proxy, mirrors) and the names of weighted clusters. Sorted, each
// once: what a proxy must have for the routes of m to find their cluster.
func ReferencedClusters(m proto.Message) []string {
	seen := map[string]bool{}
	var out []string
	Walk(m, func(msg protoreflect.Message) {
		weighted := strings.HasSuffix(string(msg.Descriptor().Name()), "ClusterWeight")
		msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap() &&
				(fd.Name() == "cluster" || (weighted && fd.Name() == "name")) {
				if s := v.String(); s != "" && !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
			return true
		})
	})
	sort.Strings(out)
	return out
}
