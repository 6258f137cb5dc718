package testenv

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest/kubetest"
)

// RequireKube skips the test unless etcd and kube-apiserver are installed in
// BinDir().
func RequireKube(t testing.TB) {
	t.Helper()
	if m := missingBinaries("etcd", "kube-apiserver"); len(m) > 0 {
		t.Skipf("testenv: %s not found in %q; run `make test` (or `bash hack/test-deps.sh`) to install the test dependencies",
			strings.Join(m, ", "), BinDir())
	}
}

// StartKube starts etcd and kube-apiserver (envtest through kubetest.Start,
// bound to 127.0.0.1 on free ports) with the CRDs found in crdDirs
// installed, and stops them when the test ends. It returns an admin
// rest.Config and the path of an equivalent kubeconfig file written into
// t.TempDir() (for out-of-process clients such as istiod or kubectl). It
// skips the test when the binaries are missing.
func StartKube(t testing.TB, crdDirs ...string) (*rest.Config, string) {
	t.Helper()
	return StartKubeWith(t, KubeOptions{}, crdDirs...)
}

// KubeOptions adjust the control plane StartKubeWith starts.
type KubeOptions struct {
	// ServiceCIDR is the kube-apiserver's --service-cluster-ip-range
	// (envtest's default, a /24, holds 254 Services; scale benchmarks need
	// more, e.g. 10.96.0.0/12).
	ServiceCIDR string
}

// StartKubeWith is StartKube with options. The control plane is the
// plugin authors' kit's (pkg/plugin/plugintest/kubetest), without
// aeraki's CRDs unless crdDirs name them: aeraki's tests and outside
// plugins' run on the same setup.
func StartKubeWith(t testing.TB, o KubeOptions, crdDirs ...string) (*rest.Config, string) {
	t.Helper()
	RequireKube(t)
	c := kubetest.Start(t, kubetest.Options{BinDir: BinDir(), CRDDirs: crdDirs, WithoutAerakiCRDs: true, ServiceCIDR: o.ServiceCIDR})
	return c.Config, c.Kubeconfig
}
