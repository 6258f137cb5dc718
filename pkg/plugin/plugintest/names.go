package plugintest

import (
	"strconv"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// checkNames finds every Istio-style cluster name ("dir|port|subset|host")
// in the output and requires it to follow the role's convention and to
// name a real service, port and subset.
func checkNames(t *testing.T, scenario string, role plugin.Role, view *model.View, filters []*listenerv3.Filter, rc proto.Message) {
	t.Helper()
	var names []string
	for _, f := range filters {
		collect(f.ProtoReflect(), &names)
	}
	if rc != nil {
		collect(rc.ProtoReflect(), &names)
	}
	want := map[plugin.Role]string{plugin.RoleSidecarOutbound: "outbound", plugin.RoleSidecarInbound: "inbound", plugin.RoleWaypoint: "inbound-vip"}[role]
	for _, n := range names {
		parts := strings.Split(n, "|")
		if parts[0] != want {
			t.Errorf("%s: %s output names cluster %q; in this role clusters are %q|<port>|<subset>|<host> (use BuildContext.ClusterName)", scenario, role, n, want)
			continue
		}
		port, err := strconv.Atoi(parts[1])
		if err != nil {
			t.Errorf("%s: cluster %q has a malformed port", scenario, n)
			continue
		}
		if role == plugin.RoleSidecarInbound {
			if parts[2] != "" || parts[3] != "" || port != Port {
				t.Errorf("%s: inbound cluster %q must be inbound|<targetPort>|| (the local workload)", scenario, n)
			}
			continue
		}
		svc := view.Service(parts[3])
		if svc == nil {
			t.Errorf("%s: cluster %q names host %q, which is not a service", scenario, n, parts[3])
			continue
		}
		if svc.Port(uint32(port)) == nil {
			t.Errorf("%s: cluster %q names port %d, which %s does not have", scenario, n, port, svc.Hostname)
		}
		if parts[2] != "" {
			if _, ok := view.Subset(svc.Hostname, parts[2]); !ok {
				t.Errorf("%s: cluster %q names subset %q, which no DestinationRule defines", scenario, n, parts[2])
			}
		}
	}
}

// collect gathers string values shaped like cluster names, unpacking Any.
func collect(m protoreflect.Message, out *[]string) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err == nil {
			collect(inner.ProtoReflect(), out)
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(fd, l.Get(i), out)
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Message() != nil {
					collect(mv.Message(), out)
				}
				return true
			})
		default:
			visit(fd, v, out)
		}
		return true
	})
}

func visit(fd protoreflect.FieldDescriptor, v protoreflect.Value, out *[]string) {
	switch {
	case fd.Message() != nil:
		collect(v.Message(), out)
	case fd.Kind() == protoreflect.StringKind:
		s := v.String()
		if strings.Count(s, "|") == 3 {
			p := strings.SplitN(s, "|", 2)[0]
			if p == "outbound" || p == "inbound" || p == "inbound-vip" {
				*out = append(*out, s)
			}
		}
	}
}
