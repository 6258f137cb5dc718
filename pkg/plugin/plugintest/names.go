package plugintest

import (
	"strconv"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// checkNames finds every Istio-style cluster name ("dir|port|subset|host")
// in the output and requires it to follow the role's convention and to
// name a real service, port and subset.
func checkNames(t *testing.T, scenario string, role plugin.Role, view *model.View, filters []*listenerv3.Filter, rc proto.Message) {
	t.Helper()
	var names []string
	for _, f := range filters {
		collect(f, &names)
	}
	if rc != nil {
		collect(rc, &names)
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

// collect gathers string values shaped like Istio cluster names
// ("dir|port|subset|host") anywhere in m, Any contents included.
func collect(m proto.Message, out *[]string) {
	xds.Walk(m, func(msg protoreflect.Message) {
		msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.StringKind || fd.IsMap() {
				return true
			}
			if fd.IsList() {
				for i := 0; i < v.List().Len(); i++ {
					addClusterName(v.List().Get(i).String(), out)
				}
				return true
			}
			addClusterName(v.String(), out)
			return true
		})
	})
}

func addClusterName(s string, out *[]string) {
	if strings.Count(s, "|") != 3 {
		return
	}
	switch strings.SplitN(s, "|", 2)[0] {
	case "outbound", "inbound", "inbound-vip":
		*out = append(*out, s)
	}
}
