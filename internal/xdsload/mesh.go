package xdsload

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MeshOptions size the generated mesh.
type MeshOptions struct {
	// Services is the number of Dubbo services (one pod each), spread over
	// 10 ambient namespaces whose services use the namespace's waypoint.
	Services int
	// Nodes is the number of nodes the pods are spread over: the ztunnel
	// proxies (ztunnel/node-<i>).
	Nodes int
}

// namespaces of the generated mesh; each has one aeraki waypoint "wp".
const namespaces = 10

// changedWaypoint is the waypoint a change (writeChange) reaches; the
// client's waypoint streams pose as its replicas.
const changedWaypoint = "waypoint/load-0/wp"

// Generate writes the mesh into dir, one file per namespace.
func Generate(dir string, o MeshOptions) error {
	if o.Services <= 0 || o.Nodes <= 0 {
		return fmt.Errorf("xdsload: the mesh needs services and nodes (got %d services, %d nodes)", o.Services, o.Nodes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := make([]strings.Builder, namespaces)
	files[0].WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: aeraki-waypoint}
spec: {controllerName: aeraki.io/waypoint-controller}
`)
	for n := range namespaces {
		fmt.Fprintf(&files[n], `---
apiVersion: v1
kind: Namespace
metadata:
  name: load-%[1]d
  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: load-%[1]d, labels: {istio.io/waypoint-for: service}}
spec:
  gatewayClassName: aeraki-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Pod
metadata:
  name: wp-0
  namespace: load-%[1]d
  labels: {gateway.networking.k8s.io/gateway-name: wp, istio.io/dataplane-mode: none}
spec: {nodeName: node-%[2]d, serviceAccountName: wp}
status: {phase: Running, podIP: 10.250.0.%[3]d}
`, n, n%o.Nodes, n+1)
	}
	for i := range o.Services {
		writeService(&files[i%namespaces], i, i%o.Nodes, false)
	}
	for n := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("load-%d.yaml", n)), []byte(files[n].String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeService writes service i (namespace i%10) and its pod on node;
// withGRPC adds a gRPC port, which proxyless clients see too.
func writeService(b *strings.Builder, i, node int, withGRPC bool) {
	ports := "[{name: tcp-dubbo, port: 20880}]"
	if withGRPC {
		ports = "[{name: tcp-dubbo, port: 20880}, {name: grpc-api, port: 9090}]"
	}
	fmt.Fprintf(b, `---
apiVersion: v1
kind: Service
metadata: {name: svc-%[1]d, namespace: load-%[2]d}
spec:
  clusterIP: 10.96.%[3]d.%[4]d
  selector: {app: svc-%[1]d}
  ports: %[6]s
---
apiVersion: v1
kind: Pod
metadata: {name: svc-%[1]d-0, namespace: load-%[2]d, labels: {app: svc-%[1]d, version: v1}}
spec: {nodeName: node-%[5]d, serviceAccountName: svc-%[1]d}
status: {phase: Running, podIP: 10.%[7]d.%[3]d.%[4]d}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-%[1]d, namespace: load-%[2]d}
spec:
  host: svc-%[1]d.load-%[2]d.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: svc-%[1]d, namespace: load-%[2]d}
spec:
  hosts: [svc-%[1]d.load-%[2]d.svc.cluster.local]
  routes:
  - {name: hello, match: {attributes: {method: {exact: sayHello}}}, route: [{destination: {host: svc-%[1]d.load-%[2]d.svc.cluster.local, subset: v1}}]}
`, i, i%namespaces, i/250%250, i%250+1, node, ports, 100+i/62500)
}

// writeChange adds one service (a Dubbo and a gRPC port) in namespace
// load-0 as a new file: every ztunnel (a new outbound chain and cluster),
// load-0's waypoint and every proxyless client (a new gRPC listener and
// cluster) get changed config. seq makes each change a new service.
func writeChange(dir string, services, seq int) (string, error) {
	var b strings.Builder
	i := (services/namespaces + 1 + seq) * namespaces // in load-0, after the mesh's own
	writeService(&b, i, 0, true)
	name := filepath.Join(dir, fmt.Sprintf("zz-change-%d.yaml", i))
	return name, os.WriteFile(name, []byte(b.String()), 0o644)
}
