package charts

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestInstallManifestsAreChartDefaults checks that examples/install is what
// `make install-manifests` writes from the chart's defaults, file for file.
func TestInstallManifestsAreChartDefaults(t *testing.T) {
	_, h := chart(t)
	root, _ := testenv.RepoRoot()
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "hack", "install-manifests.sh"), out)
	cmd.Env = append(os.Environ(), "HELM="+h.Path)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/install-manifests.sh: %v\n%s", err, b)
	}
	want := yamlFiles(t, out)
	got := yamlFiles(t, filepath.Join(root, "examples", "install"))
	// Not from the chart: a cert-manager Certificate for the aeraki-tls Secret.
	delete(got, filepath.Join("optional", "cert-manager.yaml"))
	if !reflect.DeepEqual(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("examples/install has %v, the chart renders %v: run `make install-manifests`", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for name := range want {
		if !bytes.Equal(got[name], want[name]) {
			t.Errorf("examples/install/%s differs from what the chart renders by default: edit charts/aeraki and run `make install-manifests`", name)
		}
	}
}

func yamlFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInstall is the operator's story on a real kube-apiserver (RBAC
// authorization, as envtest runs it): the rendered chart passes a
// server-side dry run, `helm install` installs it (CRDs included), NOTES
// prints the configSources snippet naming the Service it created, and the
// ServiceAccount can do what aeraki needs and nothing it must not.
func TestInstall(t *testing.T) {
	dir, _ := chart(t)
	_, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir(), testenv.GatewayAPICRDDir())
	k := testenv.RequireKubectl(t, kubeconfig)
	h := testenv.RequireHelm(t, kubeconfig)
	const ns = "istio-system"
	k.Must(t, "create", "namespace", ns)

	// What an operator can check before installing anything.
	rendered := h.Must(t, "template", "aeraki", dir, "--namespace", ns, "--include-crds")
	k.MustStdin(t, rendered, "apply", "--dry-run=server", "-f", "-")
	if out := k.Must(t, "get", "deployments,crd", "-A", "-o", "name"); strings.Contains(out, "aeraki") {
		t.Fatalf("the dry run created objects:\n%s", out)
	}

	notes := h.Must(t, "install", "aeraki", dir, "--namespace", ns)
	t.Logf("helm install printed:\n%s", notes)
	for _, crd := range []string{"metarouters.metaprotocol.aeraki.io", "applicationprotocols.metaprotocol.aeraki.io",
		"redisservices.redis.aeraki.io", "redisdestinations.redis.aeraki.io", "dubboauthorizationpolicies.dubbo.aeraki.io"} {
		k.Must(t, "wait", "--for", "condition=established", "--timeout", "60s", "crd/"+crd)
	}
	k.Must(t, "get", "-n", ns, "serviceaccount/aeraki", "deployment/aeraki", "service/aeraki", "poddisruptionbudget/aeraki",
		"role/aeraki-leader-election", "rolebinding/aeraki-leader-election")
	k.Must(t, "get", "clusterrole/aeraki", "clusterrolebinding/aeraki")

	// The snippet NOTES prints is valid mesh config naming this Service.
	snippet := meshConfigSnippet(t, notes)
	var mesh struct {
		MeshConfig struct {
			ConfigSources []map[string]any `json:"configSources"`
		} `json:"meshConfig"`
	}
	if err := yaml.UnmarshalStrict([]byte(snippet), &mesh); err != nil {
		t.Fatalf("NOTES' snippet is not meshConfig YAML: %v\n%s", err, snippet)
	}
	want := []map[string]any{{"address": "k8s://"}, {"address": "xds://aeraki.istio-system.svc:15012",
		"tlsSettings": map[string]any{"mode": "SIMPLE", "credentialName": "aeraki-tls", "subjectAltNames": []any{"aeraki.istio-system.svc"}}}}
	if !reflect.DeepEqual(mesh.MeshConfig.ConfigSources, want) {
		t.Errorf("NOTES' configSources %v, want %v", mesh.MeshConfig.ConfigSources, want)
	}
	// The README shows the same block (indented in its list).
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(dir)), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	indented := "   " + strings.ReplaceAll(strings.TrimSuffix(snippet, "\n"), "\n", "\n   ") + "\n"
	if !strings.Contains(string(readme), indented) {
		t.Errorf("README.md's \"Install in a cluster\" does not show the snippet NOTES prints:\n%s", indented)
	}
	if port := k.Must(t, "get", "-n", ns, "service/aeraki", "-o", `jsonpath={.spec.ports[?(@.port==15012)].name}`); port != "tls-xds" {
		t.Errorf("service aeraki.%s has no port 15012 (got %q), which NOTES tells istiod to use", ns, port)
	}

	sa := "system:serviceaccount:" + ns + ":aeraki"
	canI := func(want bool, args ...string) {
		t.Helper()
		out, errOut, err := k.Run("", append([]string{"auth", "can-i", "--as", sa}, args...)...)
		got := strings.TrimSpace(out) == "yes"
		if got != want || (err != nil && want) {
			t.Errorf("kubectl auth can-i --as %s %s: %q (%v) %s, want %v", sa, strings.Join(args, " "), strings.TrimSpace(out), err, errOut, want)
		}
	}
	// What aeraki needs: read what its model reads, cluster-wide...
	for _, r := range []string{"namespaces", "services", "pods", "endpointslices.discovery.k8s.io",
		"serviceentries.networking.istio.io", "workloadentries.networking.istio.io", "destinationrules.networking.istio.io",
		"virtualservices.networking.istio.io", "gateways.gateway.networking.k8s.io", "gatewayclasses.gateway.networking.k8s.io",
		"metarouters.metaprotocol.aeraki.io", "applicationprotocols.metaprotocol.aeraki.io", "redisservices.redis.aeraki.io",
		"redisdestinations.redis.aeraki.io", "dubboauthorizationpolicies.dubbo.aeraki.io"} {
		for _, verb := range []string{"list", "watch"} {
			canI(true, verb, r, "--all-namespaces")
		}
	}
	// ...write status on its own kinds, and hold its Lease.
	for _, r := range []string{"metarouters.metaprotocol.aeraki.io", "applicationprotocols.metaprotocol.aeraki.io",
		"redisservices.redis.aeraki.io", "redisdestinations.redis.aeraki.io", "dubboauthorizationpolicies.dubbo.aeraki.io"} {
		canI(true, "patch", r, "--subresource=status", "--all-namespaces")
		canI(false, "patch", r, "--all-namespaces") // the spec is the user's
		canI(false, "delete", r, "--all-namespaces")
	}
	canI(true, "create", "leases.coordination.k8s.io", "-n", ns)
	canI(true, "update", "leases.coordination.k8s.io/aeraki-leader", "-n", ns)
	canI(true, "get", "leases.coordination.k8s.io/aeraki-leader", "-n", ns)
	canI(true, "watch", "configmaps/istio-ca-root-cert", "-n", ns) // the mesh root, for --ca-address
	canI(false, "list", "configmaps", "-n", ns)
	canI(false, "get", "configmaps/istio", "-n", ns)
	// What it must not have.
	canI(false, "get", "secrets", "--all-namespaces")
	canI(false, "list", "secrets", "--all-namespaces")
	canI(false, "list", "secrets", "-n", ns)
	canI(false, "update", "leases.coordination.k8s.io/kube-scheduler", "-n", ns)
	canI(false, "create", "leases.coordination.k8s.io", "-n", "kube-system")
	canI(false, "create", "envoyfilters.networking.istio.io", "-n", ns) // served over MCP, never written
	canI(false, "create", "pods", "-n", ns)
	canI(false, "patch", "services", "--subresource=status", "--all-namespaces")
	canI(false, "create", "serviceaccounts", "--subresource=token", "-n", ns)
	// The waypoint controller (waypoints.enabled, the default) applies each
	// waypoint's ServiceAccount, Service and Deployment in its Gateway's
	// namespace and writes Gateway status; it never deletes (the Gateway
	// owns them) and never writes a Gateway's spec.
	for _, r := range []string{"services", "serviceaccounts", "deployments.apps"} {
		canI(true, "create", r, "--all-namespaces")
		canI(true, "patch", r, "--all-namespaces")
		canI(false, "delete", r, "--all-namespaces")
		canI(false, "update", r, "--all-namespaces")
	}
	canI(true, "patch", "gateways.gateway.networking.k8s.io", "--subresource=status", "--all-namespaces")
	canI(false, "patch", "gateways.gateway.networking.k8s.io", "--all-namespaces")
	canI(true, "create", "gatewayclasses.gateway.networking.k8s.io")
	canI(false, "delete", "gatewayclasses.gateway.networking.k8s.io")
	canI(false, "escalate", "clusterroles.rbac.authorization.k8s.io")
	canI(false, "impersonate", "serviceaccounts", "--all-namespaces")

	// rbac.redisSecrets is the one switch that grants Secrets.
	h.Must(t, "upgrade", "aeraki", dir, "--namespace", ns, "--set", "rbac.redisSecrets=true")
	canI(true, "list", "secrets", "--all-namespaces")
	canI(false, "update", "secrets", "--all-namespaces")

	// waypoints.enabled=false takes the controller's rights away.
	h.Must(t, "upgrade", "aeraki", dir, "--namespace", ns, "--set", "waypoints.enabled=false")
	canI(false, "patch", "services", "--all-namespaces")
	canI(false, "create", "deployments.apps", "--all-namespaces")
	canI(false, "patch", "gateways.gateway.networking.k8s.io", "--subresource=status", "--all-namespaces")

	h.Must(t, "uninstall", "aeraki", "--namespace", ns, "--wait")
	if out := k.Must(t, "get", "clusterroles,clusterrolebindings", "-o", "name"); strings.Contains(out, "/aeraki") {
		t.Errorf("helm uninstall left cluster-wide RBAC behind:\n%s", out)
	}
}

// meshConfigSnippet cuts the YAML block NOTES prints: from the line
// "meshConfig:" to the first line that is neither indented nor a list item.
func meshConfigSnippet(t *testing.T, notes string) string {
	t.Helper()
	var out []string
	in := false
	for _, line := range strings.Split(notes, "\n") {
		switch {
		case line == "meshConfig:":
			in = true
		case in && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "-"):
			return strings.Join(out, "\n") + "\n"
		}
		if in {
			out = append(out, line)
		}
	}
	if !in {
		t.Fatalf("NOTES print no meshConfig block:\n%s", notes)
	}
	return strings.Join(out, "\n") + "\n"
}
