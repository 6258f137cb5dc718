package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
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

// StartKube starts etcd and kube-apiserver (envtest, bound to 127.0.0.1 on
// free ports) with the CRDs found in crdDirs installed, and stops them when the
// test ends. It returns an admin rest.Config and the path of an equivalent
// kubeconfig file written into t.TempDir() (for out-of-process clients such as
// istiod or kubectl). It skips the test when the binaries are missing.
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

// StartKubeWith is StartKube with options.
func StartKubeWith(t testing.TB, o KubeOptions, crdDirs ...string) (*rest.Config, string) {
	t.Helper()
	RequireKube(t)

	useExisting := false
	env := &envtest.Environment{
		BinaryAssetsDirectory:    BinDir(),
		CRDDirectoryPaths:        crdDirs,
		ErrorIfCRDPathMissing:    true,
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest binds etcd and kube-apiserver to "localhost" (resolved to a
	// loopback IP) on free ports, with --advertise-address=127.0.0.1.
	if o.ServiceCIDR != "" {
		env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", o.ServiceCIDR)
	}

	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("testenv: starting envtest control plane from %s: %v", BinDir(), err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("testenv: stopping envtest: %v", err)
		}
	})

	user, err := env.AddUser(envtest.User{Name: "testenv-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("testenv: creating admin user: %v", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("testenv: building kubeconfig: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatalf("testenv: writing kubeconfig: %v", err)
	}
	return cfg, path
}
