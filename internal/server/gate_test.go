package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// gatePlugin is a ProxyBuilder that emits one STATIC cluster per service,
// and an invalid one (a negative connect timeout, which Envoy rejects) for
// services labelled broken=true: a plugin with a bug, as far as the
// server can tell.
type gatePlugin struct{}

func (gatePlugin) Name() string                  { return "gatetest" }
func (gatePlugin) Protocols() []model.Protocol   { return nil }
func (gatePlugin) ProxyIDs(*model.View) []string { return []string{"gate"} }
func (gatePlugin) MatchNode(n *corev3.Node) (string, bool) {
	return "gate", strings.HasPrefix(n.GetId(), "gatetest~")
}

func (gatePlugin) BuildProxy(ctx *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	p := &plugin.Proxy{ID: id, Kind: plugin.ProxyKindWaypoint}
	for _, svc := range ctx.Model.Services() {
		timeout := time.Duration(svc.Ports[0].Number) * time.Millisecond
		if svc.Labels["broken"] == "true" {
			timeout = -timeout
		}
		p.Clusters = append(p.Clusters, &clusterv3.Cluster{
			Name:                 svc.Hostname,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
			ConnectTimeout:       durationpb.New(timeout),
		})
	}
	return p, nil
}

const gateService = `
apiVersion: v1
kind: Service
metadata: {name: a, namespace: demo, labels: {broken: "%t"}}
spec:
  ports:
  - {name: tcp, port: %d}
`

func TestValidationGateKeepsLastGoodConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(gateService, false, 1000))
	srv := startServer(t, dir, gatePlugin{})
	c := newADSClient(t, srv.XDSAddr(), &corev3.Node{Id: "gatetest~1"})
	c.send(resourcev3.ClusterType, nil, "", "", nil)
	good := c.recv(resourcev3.ClusterType)
	c.ack(good)

	timeoutServed := func() time.Duration {
		var dump ConfigDump
		getJSON(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=gate", &dump)
		items := dump.Resources[resourcev3.ClusterType].Items
		if len(items) != 1 {
			t.Fatalf("config_dump: %d clusters, want 1", len(items))
		}
		cl := &clusterv3.Cluster{}
		if err := protojson.Unmarshal(items[0], cl); err != nil {
			t.Fatalf("config_dump cluster: %v", err)
		}
		return cl.GetConnectTimeout().AsDuration()
	}
	gateError := func() string {
		var diags DiagnosticsDump
		getJSON(t, "http://"+srv.DebugAddr()+"/debug/diagnostics", &diags)
		for _, d := range diags.Diagnostics {
			if d.Severity == "error" && d.Plugin == "gatetest" {
				return d.Message
			}
		}
		return ""
	}

	// The plugin now emits an invalid cluster, twice in a row.
	for i, port := range []int{2000, 3000} {
		writeFile(t, dir, "svc.yaml", fmt.Sprintf(gateService, true, port))
		waitUntil(t, "the gate's error is reported", func() bool {
			return strings.Contains(gateError(), "ConnectTimeout") && srv.current().generation >= 2+i
		})
		if r := c.recvWithin(resourcev3.ClusterType, 300*time.Millisecond); r != nil {
			t.Fatalf("change %d: a cluster that failed validation was sent (version %s)", i+1, r.GetVersionInfo())
		}
		if got := timeoutServed(); got != time.Second {
			t.Fatalf("change %d: the proxy is served connect timeout %v, want the last good 1s", i+1, got)
		}
		if msg := gateError(); !strings.Contains(msg, "last good config is kept") {
			t.Errorf("change %d: the error does not say the last good config is kept: %s", i+1, msg)
		}
	}

	// Fixed: the new config goes out.
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(gateService, false, 4000))
	fixed := c.recv(resourcev3.ClusterType)
	c.ack(fixed)
	cl := &clusterv3.Cluster{}
	if err := fixed.GetResources()[0].UnmarshalTo(cl); err != nil {
		t.Fatal(err)
	}
	if cl.GetConnectTimeout().AsDuration() != 4*time.Second {
		t.Fatalf("after the fix the client got connect timeout %v, want 4s", cl.GetConnectTimeout().AsDuration())
	}
	// The diagnostics of a generation are recorded after its config is
	// published, so they may trail the push a little.
	waitUntil(t, "the gate's error is cleared after the fix", func() bool { return gateError() == "" })
}
