package kubetest

import (
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/crd"
)

// AssetsEnv is the variable that names the directory holding the etcd and
// kube-apiserver binaries, controller-runtime's envtest convention.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// Options say what to start.
type Options struct {
	// CRDDirs are further CRDs to install, as directories of manifests
	// (or single files): a plugin's own crd/ directory. A path that does
	// not exist fails the test, so a typo does not turn into "kind not
	// installed" later.
	CRDDirs []string
	// WithoutAerakiCRDs leaves aeraki's own CRDs (MetaRouter,
	// ApplicationProtocol, the Redis and Dubbo kinds) out, for tests of
	// what happens before they are installed.
	WithoutAerakiCRDs bool
	// BinDir holds etcd and kube-apiserver; default $KUBEBUILDER_ASSETS.
	// When they are missing the test is skipped, saying how to get them.
	BinDir string
	// ServiceCIDR is kube-apiserver's --service-cluster-ip-range
	// (envtest's default, a /24, holds 254 Services).
	ServiceCIDR string
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// Config is an admin (system:masters) client config.
	Config *rest.Config
	// Kubeconfig is the path of the same credentials as a kubeconfig
	// file, in the test's temporary directory: pass it to
	// `aeraki serve --kubeconfig` or kubectl.
	Kubeconfig string
}

// Start starts etcd and kube-apiserver on 127.0.0.1, on free ports, with
// aeraki's CRDs and those of o.CRDDirs installed and served, and stops
// them when the test ends. It skips the test, loudly, when the binaries
// are not found.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	bin := o.BinDir
	if bin == "" {
		bin = os.Getenv(AssetsEnv)
	}
	if msg := missing(bin); msg != "" {
		skipLoudly(t, msg)
		return nil
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	if !o.WithoutAerakiCRDs {
		var err error
		if crds, err = AerakiCRDs(); err != nil {
			t.Fatalf("kubetest: %v", err)
		}
	}
	useExisting := false
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDs:                     crds,
		CRDDirectoryPaths:        o.CRDDirs,
		ErrorIfCRDPathMissing:    true,
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest binds to what "localhost" resolves to; bind 127.0.0.1
	// explicitly, so the servers are never reachable from elsewhere and
	// an IPv6-first resolver changes nothing.
	api := env.ControlPlane.GetAPIServer()
	api.SecureServing.Address, api.SecureServing.Port = "127.0.0.1", strconv.Itoa(freePort(t))
	env.ControlPlane.Etcd = &envtest.Etcd{URL: &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))}}
	if o.ServiceCIDR != "" {
		api.Configure().Set("service-cluster-ip-range", o.ServiceCIDR)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("kubetest: starting etcd and kube-apiserver from %s: %v", bin, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("kubetest: stopping etcd and kube-apiserver: %v", err)
		}
	})
	user, err := env.AddUser(envtest.User{Name: "kubetest-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("kubetest: creating the admin user: %v", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("kubetest: writing the admin kubeconfig: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return &Cluster{Config: cfg, Kubeconfig: path}
}

// Client returns a controller-runtime client of the cluster that knows
// Kubernetes' types plus those the schemes add: a plugin's API group
// (model.Kind.AddToScheme), aeraki's (metaprotocolv1alpha1.AddToScheme).
// It takes the functions rather than kinds so this package depends on no
// more of aeraki than its CRD files: aeraki's own tests use it too.
func (c *Cluster) Client(t testing.TB, schemes ...func(*runtime.Scheme) error) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range append([]func(*runtime.Scheme) error{clientgoscheme.AddToScheme}, schemes...) {
		if err := add(scheme); err != nil {
			t.Fatalf("kubetest: scheme: %v", err)
		}
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("kubetest: client: %v", err)
	}
	return cl
}

// AerakiCRDs returns aeraki's CRDs (package crd, what `kubectl apply -f
// crd/` installs), sorted by name.
func AerakiCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(crd.Files, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, n := range names {
		data, err := crd.Files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, c); err != nil {
			return nil, fmt.Errorf("aeraki CRD %s: %w", n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CRDs embedded in package %s", "github.com/aeraki-ng/aeraki/crd")
	}
	return out, nil
}

// missing says what is wrong with bin as envtest's binary directory, or
// "" when etcd and kube-apiserver are there.
func missing(bin string) string {
	if bin == "" {
		return AssetsEnv + " is not set"
	}
	var absent []string
	for _, name := range []string{"etcd", "kube-apiserver"} {
		st, err := os.Stat(filepath.Join(bin, name))
		if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			absent = append(absent, name)
		}
	}
	if len(absent) > 0 {
		return fmt.Sprintf("no executable %s in %s", strings.Join(absent, " or "), bin)
	}
	return ""
}

var (
	warnOnce sync.Once
	warnTo   io.Writer = os.Stderr // tests of the skip replace it
)

// skipLoudly skips the test with the fix, and says so on stderr once per
// test binary: go test prints nothing for a skipped test of a passing
// package, and a suite whose API server tests all skipped must not look
// green by accident.
func skipLoudly(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("SKIPPED: this test needs a real kube-apiserver and etcd, and %s. Fix: set %s to a directory holding both binaries "+
		"(in aeraki's repository: `make test`, or `bash hack/test-deps.sh` then %s=$PWD/.cache/bin; elsewhere: "+
		"`go run sigs.k8s.io/controller-runtime/tools/setup-envtest@latest use -p path` prints one)", why, AssetsEnv, AssetsEnv)
	warnOnce.Do(func() { fmt.Fprintln(warnTo, "kubetest: "+msg) })
	t.Skip(msg)
}

// freePort returns a port free on 127.0.0.1 now, for a server started
// right after (envtest picks its ports the same way).
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: no free port on 127.0.0.1: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
