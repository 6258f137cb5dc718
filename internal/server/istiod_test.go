package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestIstiodMergesOurEnvoyFilters runs the real istiod (pilot-discovery,
// built from the pinned istio.io/istio) with meshConfig.configSources
// pointing at aeraki's MCP server, connects to istiod as a sidecar and
// checks that the outbound listener of a Dubbo service carries aeraki's
// generic_proxy filter with the MetaRouter's routes, and that editing the
// MetaRouter file changes what istiod sends the sidecar.
//
// istiod needs a Kubernetes API server (its service registry: the Dubbo
// Service lives there, as it would in a cluster), so one is started too.
// The test skips, naming `make test`, when the binaries are not built.
func TestIstiodMergesOurEnvoyFilters(t *testing.T) {
	testenv.RequireIstiod(t)
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
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

	sidecar := testenv.Sidecar{IP: "10.1.0.5", Pod: "client-0", Namespace: "demo", Labels: map[string]string{"app": "client"}}
	c := newADSClient(t, ist.XDSAddr, sidecar.Node())
	listenerName := fmt.Sprintf("%s_%d", ip, 20880)

	// routes returns the generic_proxy route table istiod put on the
	// Dubbo service's outbound listener, as JSON ("" when it has none).
	routes := func(r *discoveryv3.DiscoveryResponse) string {
		for _, a := range r.GetResources() {
			l := &listenerv3.Listener{}
			if err := a.UnmarshalTo(l); err != nil {
				t.Fatalf("LDS resource: %v", err)
			}
			if l.GetName() != listenerName {
				continue
			}
			for _, fc := range l.GetFilterChains() {
				for _, f := range fc.GetFilters() {
					if f.GetName() != "envoy.filters.network.generic_proxy" {
						continue
					}
					gp := &genericv3.GenericProxy{}
					if err := f.GetTypedConfig().UnmarshalTo(gp); err != nil {
						t.Fatalf("generic_proxy config on %s: %v", listenerName, err)
					}
					b, err := protojson.Marshal(gp.GetRouteConfig())
					if err != nil {
						t.Fatal(err)
					}
					return string(b)
				}
			}
		}
		return ""
	}
	waitLDS := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		var last string
		for time.Now().Before(deadline) {
			r := c.recvWithin(resourcev3.ListenerType, time.Until(deadline))
			if r == nil {
				break
			}
			c.ack(r)
			if last = routes(r); ok(last) {
				return
			}
		}
		t.Fatalf("istiod did not send %s; last generic_proxy routes on %s: %q\nMCP EnvoyFilters: %s", what, listenerName, last, dumpMCP(t, srv))
	}

	c.send(resourcev3.ListenerType, nil, "", "", nil)
	waitLDS("the MetaRouter's route for sayHello", func(rc string) bool {
		return strings.Contains(rc, "sayHello") && strings.Contains(rc, "outbound|20880||demo.demo.svc.cluster.local")
	})

	// Edit the MetaRouter: istiod sends the sidecar the new route.
	start := time.Now()
	writeFile(t, dir, "router.yaml", fmt.Sprintf(metaRouter, "demo", "sayGoodbye"))
	waitLDS("the edited route for sayGoodbye", func(rc string) bool {
		return strings.Contains(rc, "sayGoodbye") && !strings.Contains(rc, "sayHello")
	})
	t.Logf("the MetaRouter edit reached the sidecar through istiod in %v", time.Since(start).Round(time.Millisecond))

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

func dumpMCP(t *testing.T, srv *testServer) string {
	_, b := httpGet(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=istiod")
	return string(b)
}
