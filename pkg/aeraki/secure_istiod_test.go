package aeraki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

const (
	aerakiDNS    = "aeraki.istio-system.svc"
	aerakiSPIFFE = "spiffe://cluster.local/ns/istio-system/sa/aeraki"
)

// mcpOverTLS is the meshConfig.configSources istiod reads aeraki from over
// TLS, as docs/security.md tells operators to write it.
func mcpOverTLS(addr string, caPEM []byte, san string) string {
	var ca strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(caPEM)), "\n") {
		ca.WriteString("      " + l + "\n")
	}
	return fmt.Sprintf(`configSources:
- address: xds://%s
  tlsSettings:
    mode: SIMPLE
    caCertificates: |
%s    subjectAltNames: [%q]
    sni: %s
- address: k8s://
`, addr, ca.String(), san, aerakiDNS)
}

// dubboInBoth puts examples/dubbo's Service into the API server (for
// istiod) and a directory (for aeraki), with the cluster IP it got.
func dubboInBoth(t *testing.T, cs kubernetes.Interface) (dir, listener string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("demo").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "demo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "demo"},
			Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	write(t, dir, "demo.yaml", fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: demo, namespace: demo}
spec:
  clusterIP: %s
  selector: {app: demo}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: demo, namespace: demo}
spec:
  hosts: [demo]
  routes:
  - name: by-method
    match: {attributes: {method: {exact: sayHello}}}
    route: [{destination: {host: demo}}]
`, svc.Spec.ClusterIP))
	return dir, svc.Spec.ClusterIP + "_20880"
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// caFlags mounts what a pod running as ns/sa reads to get its identity
// from ist's CA (the projected token, audience istio-ca, and the mesh
// root from the istio-ca-root-cert ConfigMap) and returns the --ca-*
// flags of aeraki serve and aeraki agent that read them.
func caFlags(t *testing.T, cfg *rest.Config, ist *testenv.Istiod, ns, sa string) []string {
	t.Helper()
	files := t.TempDir()
	write(t, files, "istio-token", testenv.ServiceAccountToken(t, cfg, ns, sa, testenv.IstioCAAudience, time.Hour))
	write(t, files, "root-cert.pem", string(ist.RootCert(t, "istio-system")))
	return []string{"--ca-address", ist.SecureXDSAddr, "--ca-server-name", "istiod.istio-system.svc",
		"--ca-token-file", filepath.Join(files, "istio-token"), "--ca-root-cert-file", filepath.Join(files, "root-cert.pem")}
}

// TestIstiodReadsMCPOverTLS: istiod's configSources point at aeraki's TLS
// address with tlsSettings SIMPLE, caCertificates and subjectAltNames;
// aeraki serves the certificate of a mounted Secret (what cert-manager
// writes) carrying its Service's DNS name. istiod syncs aeraki's
// EnvoyFilters and merges them into a sidecar's listeners, over TLS only
// (the plaintext address is off).
//
// Then the refusals istiod makes, read from its log: a subjectAltNames
// that the certificate does not carry, aeraki's SPIFFE id (which the
// certificate carries as a URI SAN, but istiod compares subjectAltNames
// with DNS SANs only: pilot/pkg/bootstrap/configcontroller.go, verifyCert),
// and a caCertificates of another CA. Such an istiod exits at start-up
// ("failed to create discovery service: ... MCP: failed running").
func TestIstiodReadsMCPOverTLS(t *testing.T) {
	testenv.RequireIstiod(t)
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
	dir, listener := dubboInBoth(t, kubernetes.NewForConfigOrDie(cfg))

	ca := testenv.NewCA(t, "cert-manager issuer")
	secret := t.TempDir()
	ca.WriteSecretDir(t, secret, ca.Issue(t, aerakiDNS, aerakiSPIFFE))
	tlsAddr := freeAddr(t)
	s := serve(t, "--config-dir", dir, "--tls-cert-dir", secret, "--tls-address", tlsAddr, "--plaintext-address", off, "--debounce", "50ms")

	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, ConfigSources: []string{},
		MeshConfig: mcpOverTLS(tlsAddr, ca.CertPEM, aerakiDNS)})
	sidecar := testenv.Sidecar{IP: "10.1.0.5", Pod: "client-0", Namespace: "demo", Labels: map[string]string{"app": "client"}}
	newLDSWatch(t, ist.XDSAddr, sidecar).wait(t, listener, "aeraki's sayHello route, read over TLS", func(rc string) bool {
		return strings.Contains(rc, "sayHello")
	})
	var syncz []struct {
		Kind, Listener string
	}
	getJSONE2E(t, "http://"+s.debug+"/debug/syncz", &syncz)
	if len(syncz) == 0 || syncz[0].Kind != "istiod" || syncz[0].Listener != "tls" {
		t.Errorf("syncz = %+v, want istiod on the TLS listener", syncz)
	}

	for _, c := range []struct {
		name, san string
		ca        []byte
		log       string
	}{
		{"a name the certificate lacks", "wrong.example.com", ca.CertPEM, "no matching SAN found"},
		{"aeraki's SPIFFE id (a URI SAN)", aerakiSPIFFE, ca.CertPEM, "no matching SAN found"},
		{"another CA", aerakiDNS, testenv.NewCA(t, "other").CertPEM, "certificate signed by unknown authority"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, ConfigSources: []string{}, NoWait: true,
				MeshConfig: mcpOverTLS(tlsAddr, c.ca, c.san)})
			line := bad.WaitLog(t, c.log, time.Minute)
			t.Logf("istiod: %s", line)
			// istiod refuses the config source at start-up and exits.
			select {
			case <-bad.Exited():
			case <-time.After(30 * time.Second):
				if code := httpStatus("http://" + bad.HTTPAddr + "/ready"); code == http.StatusOK {
					t.Errorf("istiod is ready although it cannot verify its config source")
				}
			}
		})
	}
}

func httpStatus(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSONE2E(t *testing.T, url string, v any) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
