package aeraki

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/internal/source/kube"
	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/internal/waypoint"
	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// addressType is the WDS type URL Rust ztunnel subscribes to
// (pilot/pkg/model/xds.go in istio/istio, AddressType).
const addressType = "type.googleapis.com/istio.workload.Address"

// waypointManifests is what an operator applies: a Gateway of aeraki's
// class, and a Service that opts into it.
const waypointManifests = `apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: demo}
spec:
  gatewayClassName: aeraki-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: echo}
  ports: [{name: tcp-dubbo, port: 20880}]
`

// TestAerakiWaypointInAmbientMesh: with the real kube-apiserver (Gateway
// API CRDs, examples/install applied, aeraki running as its
// ServiceAccount) and the real istiod in ambient mode, kubectl apply of a
// Gateway of class aeraki-waypoint and a Service labelled
// istio.io/use-waypoint makes aeraki accept the GatewayClass, deploy the
// waypoint (ServiceAccount, Service with 15008 and the status port,
// Deployment of upstream Envoy with the generated bootstrap and aeraki
// agent, all owned by the Gateway) and write the Gateway's status
// (Accepted, Programmed, status.addresses = the Service's cluster IP).
// A delta ADS client posing as a ztunnel then receives from istiod the
// WDS Service whose waypoint is that address with HBONE port 15008: a
// real ztunnel would send the Service's traffic to aeraki's waypoint.
// And the waypoint, with a certificate from istiod's CA for the
// ServiceAccount aeraki created, gets its config from aeraki's TLS
// address the way its generated bootstrap dials it.
func TestAerakiWaypointInAmbientMesh(t *testing.T) {
	testenv.RequireIstiod(t)
	k, saKubeconfig, kubeconfig, _ := operatorClusterAdmin(t)
	k.Must(t, "apply", "-f", testenv.GatewayAPICRDDir())
	k.Must(t, "wait", "--for", "condition=established", "--timeout", "60s", "-f", testenv.GatewayAPICRDDir())
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, CA: true, Env: []string{"PILOT_ENABLE_AMBIENT=true"}})
	cfg := restConfig(t, kubeconfig)
	// aeraki's identity from istiod's CA, as the install runs it (the mesh
	// root from the ConfigMap, with the install's Role).
	tokenFile := filepath.Join(t.TempDir(), "istio-token")
	write(t, filepath.Dir(tokenFile), "istio-token", testenv.ServiceAccountToken(t, cfg, "istio-system", "aeraki", testenv.IstioCAAudience, time.Hour))
	tlsAddr := freeAddr(t)
	serve(t, "--kubeconfig", saKubeconfig, "--debounce", "50ms", "--leader-election-lease-duration", "3s",
		"--leader-election-renew-deadline", "2s", "--leader-election-retry-period", "500ms",
		"--tls-address", tlsAddr, "--ca-address", ist.SecureXDSAddr, "--ca-server-name", "istiod.istio-system.svc", "--ca-token-file", tokenFile)
	k.MustStdin(t, waypointManifests, "apply", "-f", "-")

	scheme, err := kube.NewScheme(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gw := &gatewayv1.Gateway{}
	var ip string
	waitFor(t, 2*e2eWait, "aeraki programs the Gateway and writes its address", func() bool {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "waypoint"}, gw); err != nil {
			t.Fatal(err)
		}
		if !condTrue(gw.Status.Conditions, "Accepted", gw.Generation) || !condTrue(gw.Status.Conditions, "Programmed", gw.Generation) || len(gw.Status.Addresses) == 0 {
			return false
		}
		ip = gw.Status.Addresses[0].Value
		return true
	})
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "waypoint"}, svc); err != nil {
		t.Fatalf("aeraki created no waypoint Service: %v", err)
	}
	if svc.Spec.ClusterIP != ip || *gw.Status.Addresses[0].Type != gatewayv1.IPAddressType {
		t.Errorf("status.addresses = %v, want the Service's cluster IP %s", gw.Status.Addresses, svc.Spec.ClusterIP)
	}
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if ports["mesh"] != 15008 || ports["status-port"] != 15021 {
		t.Errorf("waypoint Service ports %v, want mesh 15008 and status-port 15021", ports)
	}
	gc := &gatewayv1.GatewayClass{}
	if err := c.Get(ctx, client.ObjectKey{Name: "aeraki-waypoint"}, gc); err != nil || gc.Spec.ControllerName != "aeraki.io/waypoint-controller" ||
		!condTrue(gc.Status.Conditions, "Accepted", gc.Generation) {
		t.Errorf("GatewayClass aeraki-waypoint: %v %+v", err, gc)
	}
	sa := &corev1.ServiceAccount{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "waypoint"}, sa); err != nil {
		t.Errorf("aeraki created no waypoint ServiceAccount: %v", err)
	}
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "waypoint"}, dep); err != nil {
		t.Fatalf("aeraki created no waypoint Deployment: %v", err)
	}
	for _, o := range []client.Object{svc, sa, dep} {
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].Kind != "Gateway" || refs[0].UID != gw.UID || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%T %s is not owned by the Gateway: %+v", o, o.GetName(), refs)
		}
	}
	boot := checkWaypointPod(t, dep)

	// The waypoint, with its certificate from istiod's CA (the identity
	// of the ServiceAccount aeraki created), dials aeraki's TLS address
	// as its bootstrap says: aeraki's certificate must chain to the mesh
	// root and carry the identity the bootstrap checks, and aeraki serves
	// it the config of the node id the bootstrap names.
	var san string
	for _, cl := range boot.GetStaticResources().GetClusters() {
		if cl.GetName() == waypoint.XDSCluster {
			tc := &tlsv3.UpstreamTlsContext{}
			if err := cl.GetTransportSocket().GetTypedConfig().UnmarshalTo(tc); err != nil {
				t.Fatal(err)
			}
			san = tc.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact()
		}
	}
	if san != aerakiSPIFFE {
		t.Errorf("the bootstrap checks aeraki's identity as %q, want %s", san, aerakiSPIFFE)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ist.RootCert(t, "istio-system"))
	wpClient := &meshClient{addr: tlsAddr, roots: roots, cert: &ist.IstioCertificate(t, cfg, "demo", sa.Name, time.Hour).Certificate}
	var lds *discoveryv3.DiscoveryResponse
	waitFor(t, e2eWait, "the waypoint gets its config over aeraki's TLS address", func() bool {
		var err error
		lds, err = openADS(t, wpClient.dial(t), boot.GetNode().GetId()).listeners(nil)
		if err != nil {
			t.Logf("waypoint: %v", err)
		}
		return err == nil && len(lds.GetResources()) > 0
	})
	t.Logf("the waypoint %s got %d listeners over TLS", boot.GetNode().GetId(), len(lds.GetResources()))

	// istiod, in ambient mode, reads the Gateway as a waypoint from its
	// address and tells ztunnels.
	wp := ztunnelWDS(t, ist.XDSAddr, "demo", "echo")
	t.Logf("istiod's WDS to a ztunnel: Service demo/echo has waypoint %s with hbone_mtls_port %d; the Gateway's address is %s", wp.ip, wp.port, ip)
	if wp.ip != ip || wp.port != 15008 {
		t.Errorf("istiod's WDS names the waypoint of demo/echo as %s:%d, want %s:15008", wp.ip, wp.port, ip)
	}
}

func condTrue(cs []metav1.Condition, typ string, gen int64) bool {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status == metav1.ConditionTrue && c.ObservedGeneration == gen
		}
	}
	return false
}

// checkWaypointPod checks the Deployment's pod: upstream Envoy with a
// bootstrap for this waypoint that the envoy profile runs, and the agent
// beside it sharing the SDS socket's volume.
func checkWaypointPod(t *testing.T, dep *appsv1.Deployment) *bootstrapv3.Bootstrap {
	t.Helper()
	spec := dep.Spec.Template.Spec
	if spec.ServiceAccountName != "waypoint" || dep.Spec.Template.Labels["gateway.networking.k8s.io/gateway-name"] != "waypoint" {
		t.Errorf("the pod runs as %q with labels %v", spec.ServiceAccountName, dep.Spec.Template.Labels)
	}
	var envoy, agent *corev1.Container
	for i := range spec.Containers {
		switch spec.Containers[i].Name {
		case "envoy":
			envoy = &spec.Containers[i]
		case "aeraki-agent":
			agent = &spec.Containers[i]
		}
	}
	if envoy == nil || agent == nil {
		t.Fatalf("containers %v, want envoy and aeraki-agent", spec.Containers)
	}
	if !strings.HasPrefix(envoy.Image, "envoyproxy/envoy:") || agent.Args[0] != "agent" || !strings.Contains(strings.Join(agent.Args, " "), "--mode=waypoint") {
		t.Errorf("envoy image %s, agent args %v", envoy.Image, agent.Args)
	}
	var raw string
	for i, a := range envoy.Args {
		if a == "--config-yaml" && i+1 < len(envoy.Args) {
			raw = envoy.Args[i+1]
		}
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal([]byte(raw), b); err != nil {
		t.Fatalf("envoy's --config-yaml is not a bootstrap: %v", err)
	}
	if b.GetNode().GetId() != "waypoint/demo/waypoint" {
		t.Errorf("bootstrap node id %q", b.GetNode().GetId())
	}
	if fs := fidelity.Check(profile.MustGet(profile.Envoy), b); len(fs) > 0 {
		t.Errorf("upstream Envoy would not run the bootstrap as written: %v", fs)
	}
	if !strings.Contains(raw, `"name":"spiffe://cluster.local/ns/demo/sa/waypoint"`) {
		t.Errorf("the bootstrap does not present the waypoint's identity: %s", raw)
	}
	mounts := func(c *corev1.Container) string {
		for _, m := range c.VolumeMounts {
			if m.Name == "sds" {
				return m.MountPath
			}
		}
		return ""
	}
	if mounts(envoy) == "" || mounts(envoy) != mounts(agent) {
		t.Errorf("envoy and the agent do not share the SDS socket's directory: %q, %q", mounts(envoy), mounts(agent))
	}
	return b
}

// waypointAddress is a WDS Service's waypoint.
type waypointAddress struct {
	ip   string
	port uint64
}

// ztunnelWDS subscribes to istiod's WDS (delta, wildcard) as a ztunnel
// and waits for the Service ns/name with a waypoint.
func ztunnelWDS(t *testing.T, addr, ns, name string) waypointAddress {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*e2eWait)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := testenv.Sidecar{IP: "10.244.0.9", Pod: "ztunnel-abcde", Namespace: "istio-system"}.Node()
	node.Id = fmt.Sprintf("ztunnel~%s~%s.%s~%s.svc.cluster.local", "10.244.0.9", "ztunnel-abcde", "istio-system", "istio-system")
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: addressType}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("istiod's WDS never named a waypoint for %s/%s (services seen: %v): %v", ns, name, seen, err)
		}
		for _, res := range r.GetResources() {
			svc, ok := wdsService(res.GetResource().GetValue())
			if !ok {
				continue
			}
			seen = append(seen, svc.namespace+"/"+svc.name)
			if svc.namespace == ns && svc.name == name && svc.waypoint.ip != "" {
				return svc.waypoint
			}
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: addressType, ResponseNonce: r.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
}

type wdsSvc struct {
	name, namespace string
	waypoint        waypointAddress
}

// wdsService decodes the fields used here of an istio.workload.Address
// holding a Service, by field number (pkg/workloadapi/workload.proto in
// istio/istio: Address.service = 2; Service.name = 1, namespace = 2,
// waypoint = 7; GatewayAddress.address = 2, hbone_mtls_port = 3;
// NetworkAddress.address = 2, bytes). The Go types live in istio/istio,
// which the main module does not import.
func wdsService(b []byte) (wdsSvc, bool) {
	svcBytes, ok := field(b, 2)
	if !ok {
		return wdsSvc{}, false
	}
	var s wdsSvc
	n, _ := field(svcBytes, 1)
	s.name = string(n)
	n, _ = field(svcBytes, 2)
	s.namespace = string(n)
	if wp, ok := field(svcBytes, 7); ok {
		if na, ok := field(wp, 2); ok {
			if ipb, ok := field(na, 2); ok {
				s.waypoint.ip = net.IP(ipb).String()
			}
		}
		s.waypoint.port = varint(wp, 3)
	}
	return s, true
}

// field is the last length-delimited field num of a message.
func field(b []byte, num protowire.Number) ([]byte, bool) {
	var out []byte
	found := false
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if typ == protowire.BytesType && n == num {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, false
			}
			out, found = v, true
		}
		m := protowire.ConsumeFieldValue(n, typ, b)
		if m < 0 {
			return nil, false
		}
		b = b[m:]
	}
	return out, found
}

// varint is the varint field num of a message, 0 when absent.
func varint(b []byte, num protowire.Number) uint64 {
	var out uint64
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0
		}
		b = b[l:]
		if typ == protowire.VarintType && n == num {
			out, _ = protowire.ConsumeVarint(b)
		}
		m := protowire.ConsumeFieldValue(n, typ, b)
		if m < 0 {
			return 0
		}
		b = b[m:]
	}
	return out
}
