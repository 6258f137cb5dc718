package istiodwaypoint

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// TestClassifyFollowsIstiod pins how istiod's ConvertProtocol and
// protocol.Parse (pkg/config/kube/conversion.go, pkg/config/protocol/instance.go
// at the pinned commit) read port names and appProtocols, as waypoint.go
// then builds chains for them.
var kube = &model.Service{Ref: model.ObjectRef{Kind: "Service"}}

func TestClassifyFollowsIstiod(t *testing.T) {
	for _, c := range []struct {
		name, app string
		number    uint32
		want      PortKind
	}{
		{"tcp-dubbo", "", 20880, PortTCP},
		{"tcp", "", 20880, PortTCP},
		{"TCP-thrift", "", 9090, PortTCP},
		{"redis", "", 6379, PortTCP}, // protocol.Redis is TCP to istiod
		{"tcp-redis", "", 6379, PortTCP},
		{"mongo-x", "", 1234, PortTCP},
		{"dubbo", "", 20880, PortSniffed}, // aeraki reads Dubbo, istiod does not know it
		{"tcp-dubbo", "dubbo", 20880, PortSniffed},
		{"tcp-metaprotocol-thrift", "", 9090, PortTCP},
		{"", "", 20880, PortSniffed},
		{"", "", 3306, PortTCP}, // well-known port
		{"foo", "tcp", 20880, PortTCP},
		{"http-dubbo", "", 20880, PortHTTP},
		{"grpc-web-x", "", 1, PortHTTP},
		{"x", "kubernetes.io/h2c", 1, PortHTTP},
		{"x", "kubernetes.io/wss", 1, PortTCP},
	} {
		got, _ := Classify(kube, &model.Port{Name: c.name, AppProtocol: c.app, Number: c.number})
		if got != c.want {
			t.Errorf("name %q appProtocol %q port %d: got %s, want %s", c.name, c.app, c.number, got, c.want)
		}
		if msg := PortProblem(kube, &model.Port{Name: c.name, AppProtocol: c.app, Number: c.number}); (msg == "") != (c.want == PortTCP) {
			t.Errorf("name %q appProtocol %q: problem %q for kind %s", c.name, c.app, msg, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	h := "dubbo-provider.ambient-istio.svc.cluster.local"
	for got, want := range map[string]string{
		ChainName(h, 20880):                                  "inbound-vip|20880|tcp|" + h,
		ClusterName(h, 20880, ""):                            "inbound-vip|20880|tcp|" + h,
		ClusterName(h, 20880, "v2"):                          "inbound-vip|20880|tcp/v2|" + h,
		HTTPChainName(h, 80):                                 "inbound-vip|80|http|" + h,
		NodeID("10.244.3.10", "wp-0", "ns", "cluster.local"): "waypoint~10.244.3.10~wp-0.ns~ns.svc.cluster.local",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if !strings.HasPrefix(PortProblem(kube, &model.Port{Name: "dubbo", Number: 20880}), "port 20880/dubbo") {
		t.Errorf("PortProblem should name the port: %q", PortProblem(kube, &model.Port{Name: "dubbo", Number: 20880}))
	}
}

func TestParseClusterName(t *testing.T) {
	h := "a.ns.svc.cluster.local"
	for _, sub := range []string{"", "v2"} {
		host, port, subset, ok := ParseClusterName(ClusterName(h, 20880, sub))
		if !ok || host != h || port != 20880 || subset != sub {
			t.Errorf("ParseClusterName(ClusterName(%q)) = %q %d %q %v", sub, host, port, subset, ok)
		}
	}
	for _, bad := range []string{"outbound|20880||" + h, "inbound-vip|20880||" + h, "inbound-vip|20880|http|" + h, "inbound-vip|x|tcp|" + h, "inbound-vip|20880|tcp/|" + h, "BlackHoleCluster"} {
		if _, _, _, ok := ParseClusterName(bad); ok {
			t.Errorf("ParseClusterName(%q) accepted", bad)
		}
	}
}

// TestClassifyServiceEntry: istiod reads a ServiceEntry port's protocol
// field as a whole (convertPort), never its name.
func TestClassifyServiceEntry(t *testing.T) {
	se := &model.Service{Ref: model.ObjectRef{Group: "networking.istio.io", Kind: "ServiceEntry"}}
	for _, c := range []struct {
		name, protocol string
		want           PortKind
	}{
		{"tcp-dubbo", "TCP", PortTCP},
		{"tcp-dubbo", "", PortSniffed},
		{"tcp-dubbo", "tcp-dubbo", PortSniffed}, // not split at '-'
		{"dubbo", "TCP", PortTCP},
		{"tcp-dubbo", "HTTP", PortHTTP},
		{"x", "", PortSniffed},
	} {
		p := &model.Port{Name: c.name, DeclaredProtocol: c.protocol, Number: 3306}
		if got, _ := Classify(se, p); got != c.want {
			t.Errorf("ServiceEntry port name %q protocol %q: got %s, want %s", c.name, c.protocol, got, c.want)
		}
		if msg := PortProblem(se, p); (msg == "") != (c.want == PortTCP) {
			t.Errorf("ServiceEntry port %q/%q: problem %q", c.name, c.protocol, msg)
		}
	}
}
