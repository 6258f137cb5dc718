package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// TestStart: aeraki's CRDs and the plugin's are served, the server is on
// 127.0.0.1, and the kubeconfig file reaches it with the same rights.
func TestStart(t *testing.T) {
	c := Start(t, Options{CRDDirs: []string{"testdata/crd"}})
	u, err := url.Parse(c.Config.Host)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Errorf("API server at %q, want 127.0.0.1", c.Config.Host)
	}
	cl := c.Client(t, metaprotocolv1alpha1.AddToScheme)
	ctx := context.Background()
	var mrs metaprotocolv1alpha1.MetaRouterList
	if err := cl.List(ctx, &mrs); err != nil {
		t.Errorf("aeraki's MetaRouter CRD is not served: %v", err)
	}

	fromFile, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c2 := &Cluster{Config: fromFile}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubetest.example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "default"},
		"spec":     map[string]any{"size": int64(0)},
	}}
	// The API server checks the plugin's schema: size must be at least 1.
	if err := c2.Client(t).Create(ctx, w); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.size") {
		t.Fatalf("creating a Widget of size 0: want the CRD's validation error on spec.size, got %v", err)
	}
	w.Object["spec"] = map[string]any{"size": int64(3)}
	if err := c2.Client(t).Create(ctx, w); err != nil {
		t.Fatalf("creating a Widget through the kubeconfig file: %v", err)
	}
}

// TestWithoutAerakiCRDs: aeraki's kinds are not served when left out.
func TestWithoutAerakiCRDs(t *testing.T) {
	c := Start(t, Options{WithoutAerakiCRDs: true})
	var mrs metaprotocolv1alpha1.MetaRouterList
	if err := c.Client(t, metaprotocolv1alpha1.AddToScheme).List(context.Background(), &mrs); err == nil {
		t.Fatal("MetaRouters are served although aeraki's CRDs were left out")
	}
}

// TestAerakiCRDs: every CRD of crd/ is embedded.
func TestAerakiCRDs(t *testing.T) {
	crds, err := AerakiCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range crds {
		names = append(names, c.Name)
	}
	want := "applicationprotocols.metaprotocol.aeraki.io dubboauthorizationpolicies.dubbo.aeraki.io metarouters.metaprotocol.aeraki.io redisdestinations.redis.aeraki.io redisservices.redis.aeraki.io"
	sort.Strings(names)
	if got := strings.Join(names, " "); got != want {
		t.Errorf("embedded CRDs %s, want %s", got, want)
	}
}

// skipRecorder is a test that records Skip instead of ending.
type skipRecorder struct {
	testing.TB
	skipped string
}

func (r *skipRecorder) Helper()          {}
func (r *skipRecorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...) }

// TestSkipsWithTheFix: without the binaries the test is skipped, with a
// message that says what is missing and how to get it, also on stderr.
func TestSkipsWithTheFix(t *testing.T) {
	var stderr bytes.Buffer
	warnOnce, warnTo = sync.Once{}, &stderr
	defer func() { warnTo = os.Stderr }()
	for dir, want := range map[string]string{"": "KUBEBUILDER_ASSETS is not set", t.TempDir(): "no executable etcd or kube-apiserver in "} {
		t.Setenv(AssetsEnv, dir)
		r := &skipRecorder{TB: t}
		if c := Start(r, Options{}); c != nil {
			t.Fatalf("%s=%q: started a cluster", AssetsEnv, dir)
		}
		for _, w := range []string{"SKIPPED", want, "set KUBEBUILDER_ASSETS to a directory holding both binaries", "make test"} {
			if !strings.Contains(r.skipped, w) {
				t.Errorf("%s=%q: skip message %q does not contain %q", AssetsEnv, dir, r.skipped, w)
			}
		}
	}
	if !strings.Contains(stderr.String(), "kubetest: SKIPPED") {
		t.Errorf("nothing said on stderr: %q", stderr.String())
	}
}

// TestApplyAndImpersonate: manifests are created as written, and a
// ServiceAccount's kubeconfig has the rights its RBAC grants, no more.
func TestApplyAndImpersonate(t *testing.T) {
	c := Start(t, Options{CRDDirs: []string{"testdata/crd"}})
	c.Apply(t, "testdata/rbac")
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Impersonate(t, "default", "reader"))
	if err != nil {
		t.Fatal(err)
	}
	sa := (&Cluster{Config: cfg}).Client(t)
	ctx := context.Background()
	widgets := &unstructured.UnstructuredList{}
	widgets.SetAPIVersion("kubetest.example.com/v1")
	widgets.SetKind("WidgetList")
	if err := sa.List(ctx, widgets); err != nil {
		t.Errorf("the ServiceAccount may list Widgets (testdata/rbac), yet: %v", err)
	}
	var mrs metaprotocolv1alpha1.MetaRouterList
	if err := (&Cluster{Config: cfg}).Client(t, metaprotocolv1alpha1.AddToScheme).List(ctx, &mrs); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount was granted nothing on MetaRouters, yet listing them gave %v", err)
	}
}
