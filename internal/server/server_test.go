package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	mcp "istio.io/api/mcp/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/proxyless"
)

const dubboService = `
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: demo}
spec:
  clusterIP: 10.0.0.%[2]d
  selector: {app: %[1]s}
  ports:
  - {name: tcp-dubbo, port: 20880}
`

const metaRouter = `
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: %[1]s, namespace: demo}
spec:
  hosts: [%[1]s]
  routes:
  - name: by-method
    match:
      attributes:
        method: {exact: %[2]s}
    route:
    - destination: {host: %[1]s}
`

const grpcService = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %[1]s, namespace: demo}
spec:
  hosts: [%[1]s.example.com]
  resolution: STATIC
  ports:
  - {number: 50051, name: grpc, protocol: GRPC}
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: %[2]d}}
`

const serviceEntryType = "networking.istio.io/v1alpha3/ServiceEntry"

// decodeMCP unpacks an MCP response the way istiod does.
func decodeMCP(t *testing.T, r *discoveryv3.DiscoveryResponse) map[string]*mcp.Resource {
	t.Helper()
	out := map[string]*mcp.Resource{}
	for _, a := range r.GetResources() {
		res := &mcp.Resource{}
		if err := a.UnmarshalTo(res); err != nil {
			t.Fatalf("istiod could not read this resource (it calls UnmarshalTo): %v (type URL %s)", err, a.GetTypeUrl())
		}
		out[res.GetMetadata().GetName()] = res
	}
	return out
}

func TestMCPServesEnvoyFiltersToIstiod(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(dubboService, "demo", 20))
	writeFile(t, dir, "router.yaml", fmt.Sprintf(metaRouter, "demo", "sayHello"))
	srv := startServer(t, dir)
	c := newADSClient(t, srv.XDSAddr(), istiodNode())

	c.send(EnvoyFilterType, nil, "", "", nil)
	c.send(serviceEntryType, nil, "", "", nil)
	ef := c.recv(EnvoyFilterType)
	se := c.recv(serviceEntryType)
	c.ack(ef)
	c.ack(se)

	if len(se.GetResources()) != 0 || se.GetVersionInfo() == "" {
		t.Errorf("ServiceEntry collection: %d resources, version %q; want an empty answer with a version so istiod syncs", len(se.GetResources()), se.GetVersionInfo())
	}
	got := decodeMCP(t, ef)
	const outbound = "istio-system/aeraki-outbound-demo.demo.svc.cluster.local"
	res := got[outbound]
	if res == nil {
		t.Fatalf("EnvoyFilters %v lack %s", keysOf(got), outbound)
	}
	if res.GetMetadata().GetVersion() == "" || res.GetMetadata().GetLabels()["app.kubernetes.io/managed-by"] != "aeraki" {
		t.Errorf("metadata %v: want a content-hash version and the managed-by label", res.GetMetadata())
	}
	spec := &networkingv1alpha3.EnvoyFilter{}
	if err := res.GetBody().UnmarshalTo(spec); err != nil {
		t.Fatalf("body is not an EnvoyFilter: %v", err)
	}
	if p := spec.GetConfigPatches(); len(p) == 0 || p[0].GetMatch().GetListener().GetName() != "10.0.0.20_20880" {
		t.Errorf("outbound patch does not match listener 10.0.0.20_20880: %v", p)
	}
	if !strings.Contains(fmt.Sprint(spec.GetConfigPatches()[0].GetPatch().GetValue()), "sayHello") {
		t.Error("outbound patch does not carry the MetaRouter's route for sayHello")
	}

	// A MetaRouter change re-sends the collection with the changed filter.
	writeFile(t, dir, "router.yaml", fmt.Sprintf(metaRouter, "demo", "sayGoodbye"))
	ef2 := c.recv(EnvoyFilterType)
	c.ack(ef2)
	if ef2.GetVersionInfo() == ef.GetVersionInfo() {
		t.Fatal("the collection version did not change with the MetaRouter")
	}
	got2 := decodeMCP(t, ef2)
	if got2[outbound].GetMetadata().GetVersion() == res.GetMetadata().GetVersion() {
		t.Error("the changed EnvoyFilter kept its version")
	}
	if len(got2) != len(got) {
		t.Errorf("state of the world: the response has %d EnvoyFilters, want all %d", len(got2), len(got))
	}

	// Deletes by omission: the service's file goes, so do its EnvoyFilters.
	removeFile(t, dir, "svc.yaml")
	ef3 := c.recv(EnvoyFilterType)
	c.ack(ef3)
	if got3 := decodeMCP(t, ef3); len(got3) != 0 {
		t.Fatalf("after the service was removed istiod still gets %v", keysOf(got3))
	}
	// The other collection did not change, so it was not re-sent.
	if r := c.recvWithin(serviceEntryType, 200*time.Millisecond); r != nil {
		t.Errorf("unchanged ServiceEntry collection re-sent (version %s)", r.GetVersionInfo())
	}
}

func TestVersionsAreStableAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(dubboService, "demo", 20))
	writeFile(t, dir, "router.yaml", fmt.Sprintf(metaRouter, "demo", "sayHello"))
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000))

	versions := func() (string, map[string]string, string) {
		srv := startServer(t, dir)
		defer srv.stop()
		c := newADSClient(t, srv.XDSAddr(), istiodNode())
		c.send(EnvoyFilterType, nil, "", "", nil)
		r := c.recv(EnvoyFilterType)
		per := map[string]string{}
		for name, res := range decodeMCP(t, r) {
			per[name] = res.GetMetadata().GetVersion()
		}
		p := newADSClient(t, srv.XDSAddr(), proxylessNode("a"))
		p.send(resourcev3.ClusterType, nil, "", "", nil)
		return r.GetVersionInfo(), per, p.recv(resourcev3.ClusterType).GetVersionInfo()
	}
	v1, per1, cds1 := versions()
	v2, per2, cds2 := versions()
	if v1 != v2 || cds1 != cds2 {
		t.Errorf("versions differ between two servers on the same directory: MCP %s vs %s, CDS %s vs %s", v1, v2, cds1, cds2)
	}
	if fmt.Sprint(per1) != fmt.Sprint(per2) || len(per1) == 0 {
		t.Errorf("EnvoyFilter versions differ: %v vs %v", per1, per2)
	}
}

func TestNACKIsCountedAndNotResent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000))
	srv := startServer(t, dir)
	c := newADSClient(t, srv.XDSAddr(), proxylessNode("nacker"))

	c.send(resourcev3.ClusterType, nil, "", "", nil)
	first := c.recv(resourcev3.ClusterType)
	c.ack(first)
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000)+"  - {address: 127.0.0.2, ports: {grpc: 19001}}\n")
	writeFile(t, dir, "other.yaml", fmt.Sprintf(grpcService, "other", 19002))
	bad := c.recv(resourcev3.ClusterType)
	// Reject it, as Envoy does: the last accepted version and the nonce.
	c.send(resourcev3.ClusterType, nil, first.GetVersionInfo(), bad.GetNonce(), errors.New("cluster rejected by test"))

	if r := c.recvWithin(resourcev3.ClusterType, time.Second); r != nil {
		t.Fatalf("the rejected version was sent again (version %s); a NACK must not start a loop", r.GetVersionInfo())
	}
	waitUntil(t, "the NACK is counted", func() bool {
		return metricValue(t, srv.MonitoringAddr(), `aeraki_xds_nacks_total{type="cds"}`) == 1
	})
	var syncz []SyncStatus
	getJSON(t, "http://"+srv.DebugAddr()+"/debug/syncz", &syncz)
	var found bool
	for _, s := range syncz {
		ts := s.Types[resourcev3.ClusterType]
		if s.NodeID == "proxyless~nacker" && ts.LastNACK != nil {
			found = true
			if ts.LastNACK.Error != "cluster rejected by test" || ts.LastNACK.Version != bad.GetVersionInfo() {
				t.Errorf("syncz NACK %+v, want the error and the rejected version %s", ts.LastNACK, bad.GetVersionInfo())
			}
			if ts.LastAckedVersion != first.GetVersionInfo() {
				t.Errorf("syncz last ACKed %q, want %q", ts.LastAckedVersion, first.GetVersionInfo())
			}
		}
	}
	if !found {
		t.Fatalf("syncz does not show the NACK: %+v", syncz)
	}

	// The next change is sent: the client is not stuck.
	removeFile(t, dir, "other.yaml")
	next := c.recv(resourcev3.ClusterType)
	if next.GetVersionInfo() == bad.GetVersionInfo() {
		t.Fatal("after a change the client got the rejected version again")
	}
	c.ack(next)
}

func TestDeltaADS(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", fmt.Sprintf(grpcService, "a", 19000))
	writeFile(t, dir, "b.yaml", fmt.Sprintf(grpcService, "b", 19001))
	srv := startServer(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, srv.XDSAddr())).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *discoveryv3.DeltaDiscoveryResponse {
		t.Helper()
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("delta recv: %v", err)
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: proxylessNode("delta"), TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	first := recv()
	var names []string
	for _, r := range first.GetResources() {
		names = append(names, r.GetName())
		l := &listenerv3.Listener{}
		if err := r.GetResource().UnmarshalTo(l); err != nil || l.GetName() != r.GetName() || r.GetVersion() == "" {
			t.Errorf("delta resource %s: listener %q, version %q, err %v", r.GetName(), l.GetName(), r.GetVersion(), err)
		}
	}
	if strings.Join(names, ",") != "a.example.com:50051,b.example.com:50051" && strings.Join(names, ",") != "b.example.com:50051,a.example.com:50051" {
		t.Fatalf("initial delta listeners %v", names)
	}

	removeFile(t, dir, "b.yaml")
	second := recv()
	if len(second.GetResources()) != 0 || strings.Join(second.GetRemovedResources(), ",") != "b.example.com:50051" {
		t.Fatalf("after removing b: resources %d, removed %v; want only b removed", len(second.GetResources()), second.GetRemovedResources())
	}

	// Delta works for MCP too.
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: EnvoyFilterType}); err != nil {
		t.Fatal(err)
	}
	if r := recv(); r.GetTypeUrl() != EnvoyFilterType {
		t.Fatalf("got %s, want the initial (empty) EnvoyFilter answer", r.GetTypeUrl())
	}
}

// TestUnmatchedNodeIsRefused: a node no plugin claims (here a sidecar's
// id: no plugin builds sidecars) gets NotFound naming the conventions,
// and nothing is kept for it.
func TestUnmatchedNodeIsRefused(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000))
	srv := startServer(t, dir)
	c := newADSClient(t, srv.XDSAddr(), istiodNode())
	c.send(resourcev3.ListenerType, nil, "", "", nil)
	err := c.recvErr()
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "no plugin claims it") || !strings.Contains(err.Error(), "PROXYLESS=true") {
		t.Fatalf("err = %v, want NotFound naming the node conventions", err)
	}
	if v := metricValue(t, srv.MonitoringAddr(), `aeraki_xds_refused_total{listener="plaintext",reason="unknown-node"}`); v != 1 {
		t.Errorf("refusals counted: %v, want 1", v)
	}
	waitUntil(t, "nothing is left of the node", func() bool {
		keys, refs, timers, _ := srv.pub.entries()
		return keys == 0 && refs == 0 && timers == 0 && len(srv.tracker.syncz()) == 0
	})
}

func TestDebugEndpoints(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000))
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(dubboService, "demo", 20))
	writeFile(t, dir, "bad.yaml", `
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: broken, namespace: demo}
spec:
  hosts: [demo]
  routes:
  - name: r
    route:
    - destination: {host: nowhere}
`)
	srv := startServer(t, dir)
	c := newADSClient(t, srv.XDSAddr(), proxylessNode("debug"))
	c.send(resourcev3.ClusterType, nil, "", "", nil)
	c.ack(c.recv(resourcev3.ClusterType))

	var dump ConfigDump
	getJSON(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=proxyless", &dump)
	if l := dump.Resources[resourcev3.ListenerType]; len(l.Items) != 1 || !strings.Contains(string(l.Items[0]), "greeter.example.com:50051") {
		t.Errorf("config_dump listeners: %+v", l)
	}
	var byNode ConfigDump
	getJSON(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=proxyless~debug", &byNode)
	if byNode.ProxyID != "proxyless" {
		t.Errorf("config_dump by node id gave proxy %q", byNode.ProxyID)
	}
	var mcpDump MCPDump
	getJSON(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=istiod", &mcpDump)
	if len(mcpDump.EnvoyFilters) != 2 || mcpDump.Version == "" {
		t.Errorf("config_dump for istiod: %d EnvoyFilters, version %q; want 2 (outbound and inbound)", len(mcpDump.EnvoyFilters), mcpDump.Version)
	}
	if code, _ := httpGet(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=nope"); code != http.StatusNotFound {
		t.Errorf("config_dump for an unknown proxy: status %d, want 404", code)
	}

	// The generation's state is recorded just after its config is
	// published to the streams, so the dump may briefly lag what the
	// client above received.
	var diags DiagnosticsDump
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		getJSON(t, "http://"+srv.DebugAddr()+"/debug/diagnostics", &diags)
		if diags.Generation != 0 || time.Now().After(deadline) {
			break
		}
	}
	var found bool
	for _, d := range diags.Diagnostics {
		if d.Severity == "error" && d.Object.Name == "broken" && strings.Contains(d.Text, "bad.yaml") {
			found = true
		}
	}
	if !found || len(diags.Rejected) != 1 {
		t.Errorf("diagnostics do not report the broken MetaRouter with its file: %+v", diags)
	}
	if v := metricValue(t, srv.MonitoringAddr(), "aeraki_objects_rejected"); v != 1 {
		t.Errorf("aeraki_objects_rejected = %v, want 1", v)
	}
	if v := metricValue(t, srv.MonitoringAddr(), `aeraki_xds_connected_proxies{kind="proxyless"}`); v != 1 {
		t.Errorf("connected proxyless = %v, want 1", v)
	}
	if v := metricValue(t, srv.MonitoringAddr(), `aeraki_xds_pushes_total{type="cds"}`); v < 1 {
		t.Errorf("cds pushes = %v, want at least 1", v)
	}
	if v := metricValue(t, srv.MonitoringAddr(), "aeraki_generation_duration_seconds_count"); v < 1 {
		t.Errorf("generation count = %v", v)
	}
	if code, _ := httpGet(t, "http://"+srv.DebugAddr()+"/debug/pprof/"); code == http.StatusOK {
		t.Error("pprof is served without --pprof")
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "grpc.yaml", fmt.Sprintf(grpcService, "greeter", 19000))
	srv := startServer(t, dir)
	c := newADSClient(t, srv.XDSAddr(), proxylessNode("leaving"))
	c.send(resourcev3.ClusterType, nil, "", "", nil)
	c.ack(c.recv(resourcev3.ClusterType))

	srv.stop() // fails the test if Run does not return nil in time
	select {
	case _, open := <-c.resps:
		if open {
			t.Fatal("unexpected response during shutdown")
		}
	case <-time.After(wait):
		t.Fatal("the client's stream was not ended by the shutdown")
	}
	if _, err := http.Get("http://" + srv.DebugAddr() + "/ready"); err == nil {
		t.Error("the debug server still answers after shutdown")
	}
}

// keysOf lists a map's keys.
func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOnPublishSeesEveryGeneration(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(dubboService, "demo", 20))
	published := make(chan int, 16)
	srv := startServerWith(t, dir, func(o *Options) {
		o.OnPublish = func(u source.Update, out *translate.Output) { published <- len(out.EnvoyFilters) }
	})
	if srv.DebugAddr() == "" {
		t.Fatal("no debug address")
	}
	if n := <-published; n != 2 {
		t.Fatalf("first generation: %d EnvoyFilters, want 2", n)
	}
	removeFile(t, dir, "svc.yaml")
	timeout := time.After(wait)
	for {
		select {
		case n := <-published:
			if n == 0 {
				return
			}
		case <-timeout:
			t.Fatal("OnPublish was not called for the change")
		}
	}
}

// A change that alters an EnvoyFilter without changing any plugin output
// (the service's cluster IP, which names the listener the patch matches)
// still reaches istiod.
func TestMCPFollowsServiceAddressChange(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(dubboService, "demo", 20))
	srv := startServer(t, dir)
	c := newADSClient(t, srv.XDSAddr(), istiodNode())
	c.send(EnvoyFilterType, nil, "", "", nil)
	c.ack(c.recv(EnvoyFilterType))

	writeFile(t, dir, "svc.yaml", fmt.Sprintf(dubboService, "demo", 21))
	r := c.recv(EnvoyFilterType)
	c.ack(r)
	res := decodeMCP(t, r)["istio-system/aeraki-outbound-demo.demo.svc.cluster.local"]
	spec := &networkingv1alpha3.EnvoyFilter{}
	if err := res.GetBody().UnmarshalTo(spec); err != nil {
		t.Fatal(err)
	}
	if got := spec.GetConfigPatches()[0].GetMatch().GetListener().GetName(); got != "10.0.0.21_20880" {
		t.Fatalf("after the cluster IP changed istiod patches listener %s, want 10.0.0.21_20880", got)
	}
}

// stoppingSource delivers one empty snapshot and stops.
type stoppingSource struct{ err error }

func (s stoppingSource) Run(ctx context.Context, updates chan<- source.Update) error {
	select {
	case updates <- source.Update{Snapshot: model.NewBuilder(model.Options{}).Build()}:
	case <-ctx.Done():
	}
	return s.err
}

func TestRunFailsWhenTheSourceStops(t *testing.T) {
	reg, err := plugin.NewRegistry(proxyless.New())
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []stoppingSource{{}, {err: errors.New("watch lost")}} {
		srv, err := New(Options{Registry: reg, Source: src, XDSAddress: "127.0.0.1:0", ShutdownTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err = srv.Run(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "source") {
			t.Errorf("source returning %v: Run returned %v, want an error naming the source", src.err, err)
		}
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	dir := t.TempDir()
	srv := startServerWith(t, dir, func(o *Options) { o.EnablePprof = true })
	if code, _ := httpGet(t, "http://"+srv.DebugAddr()+"/debug/pprof/"); code != http.StatusOK {
		t.Fatalf("/debug/pprof/ with pprof enabled: status %d", code)
	}
}
