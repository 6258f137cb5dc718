package waypoint_test

import (
	"fmt"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aeraki-ng/aeraki/internal/waypoint"
	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

func testBootstrap(t *testing.T) *bootstrapv3.Bootstrap {
	t.Helper()
	b, err := waypoint.Bootstrap(waypoint.BootstrapOptions{NodeID: "waypoint/demo/wp", Cluster: "wp.demo",
		XDSAddress: "aeraki.istio-system.svc:15012", XDSIdentity: "spiffe://cluster.local/ns/istio-system/sa/aeraki",
		Identity: "spiffe://cluster.local/ns/demo/sa/wp", SDSSocket: "/var/run/aeraki/sds/socket"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBootstrapRunsOnUpstreamEnvoy: the generated bootstrap is valid
// and uses only what the envoy profile (upstream Envoy's build) has, the
// internal listener extension included; as the Deployment carries it
// (JSON for --config-yaml) it parses back to the same bootstrap.
func TestBootstrapRunsOnUpstreamEnvoy(t *testing.T) {
	b := testBootstrap(t)
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("invalid bootstrap: %v", err)
	}
	env := profile.MustGet(profile.Envoy)
	if fs := fidelity.Check(env, b); len(fs) > 0 {
		t.Errorf("upstream Envoy would not run the bootstrap as written: %v", fs)
	}
	// The check does look at the bootstrap's extensions: grpc-go, which
	// has no internal listener, refuses it.
	if fs := fidelity.Errors(fidelity.Check(profile.MustGet(profile.GRPCGo), b)); !strings.Contains(fmt.Sprint(fs), "internal_listener") {
		t.Errorf("grpc-go's profile accepted the bootstrap's internal listener extension: %v", fs)
	}
	js, err := waypoint.BootstrapJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	back := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal([]byte(js), back); err != nil {
		t.Fatalf("the JSON does not parse back: %v", err)
	}
	for _, want := range []string{`"envoy.bootstrap.internal_listener"`, `"re2.max_program_size.error_level":32768`,
		`"path":"/var/run/aeraki/sds/socket"`, `"exact":"spiffe://cluster.local/ns/istio-system/sa/aeraki"`,
		`"name":"spiffe://cluster.local/ns/demo/sa/wp"`, `"name":"ROOTCA"`, `"id":"waypoint/demo/wp"`} {
		if !strings.Contains(js, want) {
			t.Errorf("bootstrap lacks %s:\n%s", want, js)
		}
	}
	ads := back.GetDynamicResources().GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
	if ads != waypoint.XDSCluster {
		t.Errorf("ADS goes to %q", ads)
	}
	for _, c := range back.GetStaticResources().GetClusters() {
		if c.GetName() == waypoint.XDSCluster && c.GetTransportSocket() == nil {
			t.Errorf("ADS to aeraki is not over TLS")
		}
	}
}
