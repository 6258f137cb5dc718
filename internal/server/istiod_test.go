package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// destinationRule gives demo subsets v1 and v2, in the API server (istiod
// builds the subset clusters from it) and in aeraki's directory.
const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: demo, namespace: demo}
spec:
  host: demo.demo.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`

// splitRouter sends sayHello to v2 and splits every other call 80/20.
const splitRouter = `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: demo, namespace: demo}
spec:
  hosts: [demo]
  routes:
  - name: hello-v2
    match: {attributes: {method: {exact: sayHello}}}
    route: [{destination: {host: demo, subset: v2}}]
  - name: split
    route:
    - {destination: {host: demo, subset: v1}, weight: 80}
    - {destination: {host: demo, subset: v2}, weight: 20}
`

// TestIstiodMergesOurEnvoyFilters runs the real istiod (pilot-discovery,
// built from the pinned istio.io/istio) with meshConfig.configSources
// pointing at aeraki's MCP server, with aeraki's default options
// (sidecars run istio-proxy), and connects to istiod as sidecars:
//
//   - the client's outbound listener of the Dubbo service carries
//     dubbo_proxy (not generic_proxy, which istio-proxy lacks) with the
//     MetaRouter's routes, and follows edits of the MetaRouter file;
//   - every cluster those routes name, the DestinationRule's subset
//     clusters included, is in the CDS istiod sends that same sidecar;
//   - the provider's virtualInbound chain for the port carries dubbo_proxy
//     too, and its cluster is in the provider's CDS.
//
// istiod needs a Kubernetes API server (its service registry: the Dubbo
// Service lives there, as it would in a cluster), so one is started too.
// The test skips, naming `make test`, when the binaries are not built.
func TestIstiodMergesOurEnvoyFilters(t *testing.T) {
	testenv.RequireIstiod(t)
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
	kubectl := testenv.RequireKubectl(t, kubeconfig)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The Dubbo service, in the API server for istiod and in the
	// directory for aeraki, with the cluster IP the API server gave it.
	cs := kubernetes.NewForConfigOrDie(cfg)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("demo").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "demo"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "demo"},
			Ports:    []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880, Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubectl.MustStdin(t, destinationRule, "apply", "-f", "-")
	ip := svc.Spec.ClusterIP
	dir := t.TempDir()
	writeFile(t, dir, "svc.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: demo, namespace: demo}
spec:
  clusterIP: %s
  selector: {app: demo}
  ports:
  - {name: tcp-dubbo, port: 20880}
`, ip))
	writeFile(t, dir, "router.yaml", fmt.Sprintf(metaRouter, "demo", "sayHello"))

	srv := startServer(t, dir)
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, MCPAddress: srv.XDSAddr()})
	t.Logf("istiod ready (xds %s), reading config from aeraki at %s", ist.XDSAddr, srv.XDSAddr())

	client := testenv.Sidecar{IP: "10.1.0.5", Pod: "client-0", Namespace: "demo", Labels: map[string]string{"app": "client"}}
	c := newADSClient(t, ist.XDSAddr, client.Node())
	listenerName := fmt.Sprintf("%s_%d", ip, 20880)
	outbound := func(l *listenerv3.Listener) bool { return l.GetName() == listenerName }

	waitLDS := func(c *adsClient, what string, pick func(*listenerv3.Listener) bool, ok func(*dubbov3.DubboProxy, string) bool) *dubbov3.DubboProxy {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		var last string
		for time.Now().Before(deadline) {
			r := c.recvWithin(resourcev3.ListenerType, time.Until(deadline))
			if r == nil {
				break
			}
			c.ack(r)
			dp, js := dubboProxyOn(t, r, pick)
			if last = js; dp != nil && ok(dp, js) {
				return dp
			}
		}
		t.Fatalf("istiod did not send %s; last dubbo_proxy routes: %q\nMCP EnvoyFilters: %s", what, last, dumpMCP(t, srv))
		return nil
	}

	c.send(resourcev3.ListenerType, nil, "", "", nil)
	waitLDS(c, "the MetaRouter's route for sayHello on dubbo_proxy", outbound, func(_ *dubbov3.DubboProxy, rc string) bool {
		return strings.Contains(rc, "sayHello") && strings.Contains(rc, "outbound|20880||demo.demo.svc.cluster.local")
	})

	// Edit the MetaRouter: istiod sends the sidecar the new route.
	start := time.Now()
	writeFile(t, dir, "router.yaml", fmt.Sprintf(metaRouter, "demo", "sayGoodbye"))
	waitLDS(c, "the edited route for sayGoodbye", outbound, func(_ *dubbov3.DubboProxy, rc string) bool {
		return strings.Contains(rc, "sayGoodbye") && !strings.Contains(rc, "sayHello")
	})
	t.Logf("the MetaRouter edit reached the sidecar through istiod in %v", time.Since(start).Round(time.Millisecond))

	// Subsets and a weighted split: every cluster the routes name must be
	// in the CDS istiod sends the same sidecar.
	writeFile(t, dir, "dr.yaml", destinationRule)
	writeFile(t, dir, "router.yaml", splitRouter)
	dp := waitLDS(c, "the split route", outbound, func(_ *dubbov3.DubboProxy, rc string) bool {
		return strings.Contains(rc, "weightedClusters") && strings.Contains(rc, "outbound|20880|v1|demo.demo.svc.cluster.local")
	})
	named := routeClusters(dp)
	for _, want := range []string{"outbound|20880|v1|demo.demo.svc.cluster.local", "outbound|20880|v2|demo.demo.svc.cluster.local"} {
		if !named[want] {
			t.Errorf("the routes do not name %s: %v", want, named)
		}
	}
	waitClusters(t, c, "the client sidecar", named)

	// The provider's sidecar: its virtualInbound chain for the port.
	provider := testenv.Sidecar{IP: "10.1.0.9", Pod: "demo-0", Namespace: "demo", Labels: map[string]string{"app": "demo", "version": "v1"}}
	p := newADSClient(t, ist.XDSAddr, provider.Node())
	p.send(resourcev3.ListenerType, nil, "", "", nil)
	inbound := waitLDS(p, "the provider's virtualInbound chain with dubbo_proxy", func(l *listenerv3.Listener) bool { return l.GetName() == "virtualInbound" },
		func(_ *dubbov3.DubboProxy, rc string) bool { return strings.Contains(rc, "inbound|20880||") })
	waitClusters(t, p, "the provider sidecar", routeClusters(inbound))

	// istiod is a connected, synced MCP client.
	var syncz []SyncStatus
	getJSON(t, "http://"+srv.DebugAddr()+"/debug/syncz", &syncz)
	var synced bool
	for _, s := range syncz {
		if s.Kind == "istiod" && s.Types[EnvoyFilterType].Synced {
			synced = true
		}
	}
	if !synced {
		t.Errorf("syncz does not show istiod synced on %s: %+v", EnvoyFilterType, syncz)
	}
}

// dubboProxyOn finds the dubbo_proxy filter on the listener pick selects
// in an LDS response, with its route configuration as JSON; it fails the
// test if the listener carries generic_proxy, which istio-proxy lacks.
func dubboProxyOn(t *testing.T, r *discoveryv3.DiscoveryResponse, pick func(*listenerv3.Listener) bool) (*dubbov3.DubboProxy, string) {
	t.Helper()
	for _, a := range r.GetResources() {
		l := &listenerv3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			t.Fatalf("LDS resource: %v", err)
		}
		if !pick(l) {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				switch f.GetName() {
				case genericproxy.FilterName:
					t.Fatalf("listener %s carries generic_proxy, which istio-proxy sidecars do not have", l.GetName())
				case dubbo.DubboProxyFilterName:
					dp := &dubbov3.DubboProxy{}
					if err := f.GetTypedConfig().UnmarshalTo(dp); err != nil {
						t.Fatalf("dubbo_proxy config on %s: %v", l.GetName(), err)
					}
					b, err := protojson.Marshal(dp.GetMultipleRouteConfig())
					if err != nil {
						t.Fatal(err)
					}
					return dp, string(b)
				}
			}
		}
	}
	return nil, ""
}

// routeClusters are the clusters a dubbo_proxy's routes send calls to.
func routeClusters(dp *dubbov3.DubboProxy) map[string]bool {
	out := map[string]bool{}
	for _, t := range dp.GetMultipleRouteConfig().GetRouteConfig() {
		for _, r := range t.GetRoutes() {
			if c := r.GetRoute().GetCluster(); c != "" {
				out[c] = true
			}
			for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
				out[w.GetName()] = true
			}
		}
	}
	return out
}

// waitClusters subscribes c to CDS and waits until istiod sends every
// cluster in want ("BlackHoleCluster", where denied calls go, included).
func waitClusters(t *testing.T, c *adsClient, who string, want map[string]bool) {
	t.Helper()
	c.send(resourcev3.ClusterType, nil, "", "", nil)
	deadline := time.Now().Add(time.Minute)
	var missing []string
	for time.Now().Before(deadline) {
		r := c.recvWithin(resourcev3.ClusterType, time.Until(deadline))
		if r == nil {
			break
		}
		c.ack(r)
		have := map[string]bool{}
		for _, a := range r.GetResources() {
			cl := &clusterv3.Cluster{}
			if err := a.UnmarshalTo(cl); err != nil {
				t.Fatalf("CDS resource: %v", err)
			}
			have[cl.GetName()] = true
		}
		missing = nil
		for name := range want {
			if !have[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			t.Logf("%s: every cluster its routes name is in istiod's CDS (%d)", who, len(want))
			return
		}
	}
	sort.Strings(missing)
	t.Fatalf("%s: istiod's CDS lacks clusters the routes name: %v", who, missing)
}

func dumpMCP(t *testing.T, srv *testServer) string {
	_, b := httpGet(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=istiod")
	return string(b)
}
