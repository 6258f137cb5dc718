package aeraki

import (
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestKubernetesModeReadsTheMeshRoot: in Kubernetes mode, with the
// install's RBAC (aeraki's ServiceAccount, impersonated), aeraki reads the
// mesh root from the istio-ca-root-cert ConfigMap istiod writes into
// istio-system, uses it to verify istiod's CA, and serves its TLS address
// with the certificate it gets; a proxy with a certificate from the same
// CA connects.
func TestKubernetesModeReadsTheMeshRoot(t *testing.T) {
	testenv.RequireIstiod(t)
	_, saKubeconfig, kubeconfig, _ := operatorClusterAdmin(t)
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, CA: true})
	rootPEM := ist.RootCert(t, "istio-system")
	cfg := restConfig(t, kubeconfig)

	files := t.TempDir()
	token := testenv.ServiceAccountToken(t, cfg, "istio-system", "aeraki", testenv.IstioCAAudience, time.Hour)
	write(t, files, "istio-token", token)
	tlsAddr := freeAddr(t)
	t.Setenv("POD_NAMESPACE", "istio-system")
	s := serve(t, "--kubeconfig", saKubeconfig, "--tls-address", tlsAddr, "--ca-address", ist.SecureXDSAddr,
		"--ca-server-name", "istiod.istio-system.svc", "--ca-token-file", filepath.Join(files, "istio-token"))

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("aeraki's log:\n%s", s.stderr)
		}
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	proxyless := &meshClient{addr: tlsAddr, roots: roots, cert: &ist.IstioCertificate(t, cfg, "dubbo-demo", "default", time.Hour).Certificate}
	waitFor(t, e2eWait, "a proxy gets config over TLS with aeraki's certificate from istiod's CA", func() bool {
		_, err := openADS(t, proxyless.dial(t), "proxyless~client").listeners(nil)
		if err != nil {
			t.Logf("proxyless client: %v", err)
		}
		return err == nil
	})
	if log := s.stderr.String(); !strings.Contains(log, "mesh root loaded") || strings.Contains(log, token) {
		t.Errorf("want the ConfigMap's root loaded and no token in the log:\n%s", log)
	}
}

func restConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
