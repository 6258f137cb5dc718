package aeraki

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// e2eWait bounds each wait of the end-to-end tests; a bound, not a
// performance claim.
const e2eWait = 30 * time.Second

// operatorCluster is an API server set up the way examples/install/README.md
// tells an operator to: Istio's CRDs (installed with Istio), then with the
// real kubectl `apply -f crd/`, `apply -f examples/install/` and
// `apply -f examples/dubbo/`. It returns kubectl and a kubeconfig that
// impersonates examples/install's ServiceAccount, so aeraki runs with
// exactly the rights rbac.yaml grants.
func operatorCluster(t *testing.T) (k *testenv.Kubectl, saKubeconfig, root string) {
	t.Helper()
	k, saKubeconfig, _, root = operatorClusterAdmin(t)
	return k, saKubeconfig, root
}

// operatorClusterAdmin is operatorCluster, also returning the admin
// kubeconfig (for peers such as istiod).
func operatorClusterAdmin(t *testing.T) (k *testenv.Kubectl, saKubeconfig, kubeconfig, root string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	_, kubeconfig = testenv.StartKube(t, testenv.IstioCRDDir())
	k = testenv.RequireKubectl(t, kubeconfig)
	k.Must(t, "create", "namespace", "istio-system")
	k.Must(t, "apply", "-f", filepath.Join(root, "crd"))
	k.Must(t, "wait", "--for", "condition=established", "--timeout", "60s", "-f", filepath.Join(root, "crd"))
	// The whole install, Deployment included: the API server stores it
	// (no kubelet here runs its pods); the server-side dry run first is
	// what an operator can do against a cluster before installing.
	k.Must(t, "apply", "--dry-run=server", "-f", filepath.Join(root, "examples", "install"))
	k.Must(t, "apply", "-f", filepath.Join(root, "examples", "install"))
	k.Must(t, "apply", "-f", filepath.Join(root, "examples", "dubbo"))
	return k, impersonate(t, kubeconfig, "istio-system", "aeraki"), kubeconfig, root
}

// impersonate writes a kubeconfig that acts as a ServiceAccount.
func impersonate(t *testing.T, kubeconfig, ns, sa string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + ns + ":" + sa
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+sa)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// serving is an `aeraki serve` running in-process.
type serving struct {
	xds, debug string
	stderr     *syncBuffer
	stop       func()
}

// serve runs `aeraki serve` with args plus loopback addresses, waits for
// /ready and stops it (expecting exit status 0) when the test ends.
func serve(t *testing.T, args ...string) *serving {
	t.Helper()
	s := &serving{xds: freeAddr(t), debug: freeAddr(t), stderr: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args = append([]string{"serve", "--plaintext-address", s.xds, "--debug-address", s.debug, "--monitoring-address", freeAddr(t)}, args...)
	go func() { done <- Run(ctx, args, &bytes.Buffer{}, s.stderr, builtin.Plugins()...) }()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("aeraki serve exited with %d:\n%s", code, s.stderr)
			}
		case <-time.After(e2eWait):
			t.Errorf("aeraki serve did not stop")
		}
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(e2eWait)
	for {
		resp, err := http.Get("http://" + s.debug + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case code := <-done:
			t.Fatalf("aeraki serve exited with %d before it was ready:\n%s", code, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aeraki serve not ready within %v:\n%s", e2eWait, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// renderJSON runs `aeraki render -o json` on paths and returns its EnvoyFilters
// by namespace/name, in the form testenv.MCPWatcher reports them.
func renderJSON(t *testing.T, paths ...string) map[string]map[string]any {
	t.Helper()
	args := []string{"render", "-o", "json"}
	for _, p := range paths {
		args = append(args, "-f", p)
	}
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), args, &out, &errOut, builtin.Plugins()...); code != 0 {
		t.Fatalf("aeraki render exited with %d:\n%s", code, errOut.String())
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatalf("aeraki render -o json: %v\n%s", err, out.String())
	}
	got := map[string]map[string]any{}
	for _, it := range list.Items {
		md := it["metadata"].(map[string]any)
		got[md["namespace"].(string)+"/"+md["name"].(string)] = it
	}
	return got
}

// readBack writes the objects aeraki reads for examples/dubbo, as the API
// server holds them (with the ClusterIP it assigned), into a directory.
func readBack(t *testing.T, k *testenv.Kubectl) string {
	t.Helper()
	dir := t.TempDir()
	for i, obj := range []string{"namespace/dubbo-demo", "-n dubbo-demo service/dubbo-provider",
		"-n dubbo-demo destinationrule.networking.istio.io/dubbo-provider", "-n dubbo-demo metarouter/dubbo-provider"} {
		out, _, err := k.Run("", append(append([]string{"get"}, strings.Fields(obj)...), "-o", "yaml")...)
		if err != nil {
			continue // deleted
		}
		if err := os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".yaml"), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// normalize makes two collections comparable as JSON values.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalCollections(t *testing.T, a, b map[string]map[string]any) bool {
	return reflect.DeepEqual(normalize(t, a), normalize(t, b))
}

func collNames(coll map[string]map[string]any) []string {
	var out []string
	for n := range coll {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestKubernetesModeEndToEnd is the operator's story on a real API server
// with the real kubectl: install, apply examples/dubbo, run `aeraki serve`
// in Kubernetes mode as examples/install's ServiceAccount, and check that
// istiod would be served over MCP exactly what `aeraki render` prints, that
// a `kubectl apply` of a changed MetaRouter changes it, and that `kubectl
// delete` removes it.
//
// The API server gives the Service a ClusterIP, which names the outbound
// listener (<ClusterIP>_20880, 0.0.0.0_20880 without one). So the MCP
// output is compared with `aeraki render` of the objects as read back from
// the API server (exactly), and with `aeraki render -f examples/dubbo` with
// only that listener name normalised.
func TestKubernetesModeEndToEnd(t *testing.T) {
	k, saKubeconfig, root := operatorCluster(t)
	s := serve(t, "--kubeconfig", saKubeconfig, "--debounce", "100ms", "--log-format", "json")
	mcp := testenv.WatchMCP(t, s.xds)

	coll := mcp.Wait(t, "examples/dubbo's EnvoyFilters", e2eWait, func(c map[string]map[string]any) bool {
		return equalCollections(t, c, renderJSON(t, readBack(t, k)))
	})
	if len(coll) != 2 {
		t.Fatalf("want the two EnvoyFilters of examples/dubbo, got %v", collNames(coll))
	}
	clusterIP := strings.TrimSpace(k.Must(t, "get", "-n", "dubbo-demo", "service/dubbo-provider", "-o", "jsonpath={.spec.clusterIP}"))
	fromExample := renderJSON(t, filepath.Join(root, "examples", "dubbo"))
	b, _ := json.Marshal(fromExample)
	var normalised map[string]map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(b), `"0.0.0.0_20880"`, `"`+clusterIP+`_20880"`)), &normalised); err != nil {
		t.Fatal(err)
	}
	if !equalCollections(t, coll, normalised) {
		got, _ := json.MarshalIndent(coll, "", "  ")
		want, _ := json.MarshalIndent(normalised, "", "  ")
		t.Errorf("MCP output differs from `aeraki render -f examples/dubbo` (listener name normalised to %s_20880)\nMCP:\n%s\nrender:\n%s", clusterIP, got, want)
	}

	// The operator sees it accepted and programmed.
	table := k.Must(t, "get", "metarouter", "-n", "dubbo-demo")
	t.Logf("kubectl get metarouter -n dubbo-demo:\n%s", table)
	if f := strings.Fields(strings.Split(strings.TrimSpace(table), "\n")[1]); len(f) < 6 || f[2] != "True" || f[3] != "Accepted" || f[4] != "True" {
		t.Errorf("want ACCEPTED True, REASON Accepted, PROGRAMMED True:\n%s", table)
	}

	// kubectl apply of a changed MetaRouter: sayHello goes to v1 now.
	changed, err := os.ReadFile(filepath.Join(root, "examples", "dubbo", "metarouter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(changed), "        subset: v2\n  - name: split-80-20", "        subset: v1\n  - name: split-80-20", 1)
	if edited == string(changed) {
		t.Fatal("examples/dubbo/metarouter.yaml changed shape; update this test's edit")
	}
	k.MustStdin(t, edited, "apply", "-f", "-")
	applied := time.Now()
	changedColl := mcp.Wait(t, "the changed MetaRouter", 10*time.Second, func(c map[string]map[string]any) bool { return !equalCollections(t, c, coll) })
	t.Logf("kubectl apply returned -> MCP changed in %v (debounce 100ms)", time.Since(applied).Round(time.Millisecond))
	if want := renderJSON(t, readBack(t, k)); !equalCollections(t, changedColl, want) {
		t.Errorf("after the change, MCP output differs from `aeraki render` of the objects read back: got %v, want %v", collNames(changedColl), collNames(want))
	}

	// kubectl delete: the routes go; then the service's EnvoyFilters go.
	k.Must(t, "delete", "-n", "dubbo-demo", "metarouter", "dubbo-provider")
	mcp.Wait(t, "the MetaRouter's routes removed", 10*time.Second, func(c map[string]map[string]any) bool {
		ef := c["istio-system/aeraki-outbound-dubbo-provider.dubbo-demo.svc.cluster.local"]
		return ef != nil && !strings.Contains(ef["metadata"].(map[string]any)["annotations"].(map[string]any)["aeraki.io/source"].(string), "MetaRouter") &&
			equalCollections(t, c, renderJSON(t, readBack(t, k)))
	})
	k.Must(t, "delete", "-f", filepath.Join(root, "examples", "dubbo"), "--wait=false", "--ignore-not-found")
	mcp.Wait(t, "no EnvoyFilters once examples/dubbo is deleted", e2eWait, func(c map[string]map[string]any) bool { return len(c) == 0 })

	s.stop()
	for _, want := range []string{`"msg":"Kubernetes mode"`, `"msg":"watching the API server"`, `"msg":"became leader; writing status"`} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if strings.Contains(s.stderr.String(), "forbidden") {
		t.Errorf("aeraki hit an RBAC refusal running as examples/install's ServiceAccount:\n%s", s.stderr)
	}
}
