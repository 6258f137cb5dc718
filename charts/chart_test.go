package charts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// object is one rendered manifest.
type object map[string]any

func (o object) kind() string { s, _ := o["kind"].(string); return s }
func (o object) name() string { return str(o, "metadata", "name") }

// get walks maps by key and lists by index ("0", "1", ...).
func get(v any, path ...string) any {
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[p]
		case object:
			v = c[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }

// chart returns the chart's directory and the pinned helm.
func chart(t *testing.T) (string, *testenv.Helm) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	return filepath.Join(root, "charts", "aeraki"), testenv.RequireHelm(t, "")
}

// render runs helm template for a release and returns its objects.
func render(t *testing.T, h *testenv.Helm, dir, release, ns string, args ...string) []object {
	t.Helper()
	out := h.Must(t, append([]string{"template", release, dir, "--namespace", ns}, args...)...)
	return parse(t, out)
}

func parse(t *testing.T, stream string) []object {
	t.Helper()
	var objs []object
	for _, doc := range strings.Split(stream, "\n---") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if len(o) > 0 {
			objs = append(objs, o)
		}
	}
	return objs
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %v", kind, name, names(objs))
	return nil
}

func has(objs []object, kind string) bool {
	for _, o := range objs {
		if o.kind() == kind {
			return true
		}
	}
	return false
}

func names(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.kind()+"/"+o.name())
	}
	sort.Strings(out)
	return out
}

func container(t *testing.T, objs []object, name string) map[string]any {
	t.Helper()
	c, ok := get(find(t, objs, "Deployment", name), "spec", "template", "spec", "containers", "0").(map[string]any)
	if !ok {
		t.Fatalf("Deployment %s has no container", name)
	}
	return c
}

func args(c map[string]any) []string {
	var out []string
	for _, a := range c["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func TestLint(t *testing.T) {
	dir, h := chart(t)
	for _, set := range [][]string{
		nil,
		{"--set", "replicaCount=1"},
		{"--set", "serviceMonitor.enabled=true,rbac.redisSecrets=true"},
		{"--set-string", `pluginOptions.dubbo\.filter=dubbo_proxy`, "--set", "logLevel=debug,logFormat=text"},
	} {
		out := h.Must(t, append([]string{"lint", "--strict", dir}, set...)...)
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint --strict %v:\n%s", set, out)
		}
	}
	// The packaged chart (what a chart repository serves) keeps the CRDs.
	pkgDir := t.TempDir()
	h.Must(t, "package", dir, "--destination", pkgDir)
	tgz, _ := filepath.Glob(filepath.Join(pkgDir, "aeraki-*.tgz"))
	if len(tgz) != 1 {
		t.Fatalf("helm package wrote %v", tgz)
	}
	if crds := h.Must(t, "show", "crds", tgz[0]); strings.Count(crds, "kind: CustomResourceDefinition") != 5 {
		t.Errorf("the packaged chart has %d CRDs, want aeraki's five", strings.Count(crds, "kind: CustomResourceDefinition"))
	}
}

// TestTemplate_Defaults checks what `helm install` with no values creates.
func TestTemplate_Defaults(t *testing.T) {
	dir, h := chart(t)
	objs := render(t, h, dir, "aeraki", "istio-system")
	want := []string{"ClusterRole/aeraki", "ClusterRoleBinding/aeraki", "Deployment/aeraki", "PodDisruptionBudget/aeraki",
		"Role/aeraki-leader-election", "Role/aeraki-mesh-root", "RoleBinding/aeraki-leader-election", "RoleBinding/aeraki-mesh-root",
		"Service/aeraki", "ServiceAccount/aeraki"}
	if got := names(objs); !reflect.DeepEqual(got, want) {
		t.Errorf("objects %v, want %v (no Secrets reader, no ServiceMonitor by default)", got, want)
	}
	for _, o := range objs {
		if ns := str(o, "metadata", "namespace"); ns != "istio-system" && !strings.HasPrefix(o.kind(), "Cluster") {
			t.Errorf("%s/%s in namespace %q, want the release namespace", o.kind(), o.name(), ns)
		}
	}

	d := find(t, objs, "Deployment", "aeraki")
	pod := get(d, "spec", "template", "spec").(map[string]any)
	if get(d, "spec", "replicas") != float64(2) {
		t.Errorf("replicas %v, want 2", get(d, "spec", "replicas"))
	}
	if str(pod, "serviceAccountName") != "aeraki" {
		t.Errorf("serviceAccountName %q", str(pod, "serviceAccountName"))
	}
	wantPodSC := map[string]any{"runAsNonRoot": true, "runAsUser": float64(65532), "runAsGroup": float64(65532),
		"seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	if !reflect.DeepEqual(pod["securityContext"], wantPodSC) {
		t.Errorf("pod securityContext %v, want %v", pod["securityContext"], wantPodSC)
	}
	c := container(t, objs, "aeraki")
	wantSC := map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "privileged": false,
		"capabilities": map[string]any{"drop": []any{"ALL"}}}
	if !reflect.DeepEqual(c["securityContext"], wantSC) {
		t.Errorf("container securityContext %v, want %v", c["securityContext"], wantSC)
	}
	if str(c, "image") != "ghcr.io/aeraki-ng/aeraki:0.1.0-dev" {
		t.Errorf("image %q, want the chart's appVersion tag", str(c, "image"))
	}
	if str(c, "readinessProbe", "httpGet", "path") != "/ready" || str(c, "readinessProbe", "httpGet", "port") != "http-debug" ||
		str(c, "livenessProbe", "tcpSocket", "port") != "grpc-xds" {
		t.Errorf("probes: readiness %v, liveness %v", c["readinessProbe"], c["livenessProbe"])
	}
	if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "limits", "memory") == nil {
		t.Errorf("resources %v, want requests and limits", c["resources"])
	}
	for _, a := range []string{"serve", "--log-format=json", "--log-level=info", "--leader-election-id=aeraki-leader",
		"--tls-cert-dir=/etc/aeraki/tls", "--ca-address=istiod.istio-system.svc:15012"} {
		if !slices.Contains(args(c), a) {
			t.Errorf("args %v lack %s", args(c), a)
		}
	}
	ports := map[string]float64{}
	for _, p := range c["ports"].([]any) {
		ports[str(p, "name")] = get(p, "containerPort").(float64)
	}
	if !reflect.DeepEqual(ports, map[string]float64{"grpc-xds": 15010, "tls-xds": 15012, "http-monitoring": 15014, "http-debug": 8080}) {
		t.Errorf("container ports %v", ports)
	}
	if sel := get(pod, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "0", "podAffinityTerm", "labelSelector", "matchLabels"); !reflect.DeepEqual(sel, get(d, "spec", "selector", "matchLabels")) {
		t.Errorf("pod anti-affinity selects %v, want the Deployment's selector %v", sel, get(d, "spec", "selector", "matchLabels"))
	}
	pdb := find(t, objs, "PodDisruptionBudget", "aeraki")
	if get(pdb, "spec", "minAvailable") != float64(1) || !reflect.DeepEqual(get(pdb, "spec", "selector", "matchLabels"), get(d, "spec", "selector", "matchLabels")) {
		t.Errorf("PodDisruptionBudget %v", pdb["spec"])
	}

	svc := find(t, objs, "Service", "aeraki")
	if !reflect.DeepEqual(get(svc, "spec", "selector"), get(d, "spec", "selector", "matchLabels")) {
		t.Errorf("Service selects %v, the Deployment's pods carry %v", get(svc, "spec", "selector"), get(d, "spec", "selector", "matchLabels"))
	}
	svcPorts := map[string]string{}
	for _, p := range get(svc, "spec", "ports").([]any) {
		svcPorts[str(p, "name")] = fmt.Sprintf("%v->%v", get(p, "port"), get(p, "targetPort"))
	}
	if !reflect.DeepEqual(svcPorts, map[string]string{"grpc-xds": "15010->grpc-xds", "tls-xds": "15012->tls-xds",
		"http-monitoring": "15014->http-monitoring", "http-debug": "8080->http-debug"}) {
		t.Errorf("Service ports %v", svcPorts)
	}

	role := find(t, objs, "Role", "aeraki-leader-election")
	if !reflect.DeepEqual(get(role, "rules", "1", "resourceNames"), []any{"aeraki-leader"}) {
		t.Errorf("the leader Role names %v, want the Lease aeraki-leader", get(role, "rules", "1", "resourceNames"))
	}
	for _, rule := range find(t, objs, "ClusterRole", "aeraki")["rules"].([]any) {
		for _, r := range get(rule, "resources").([]any) {
			if r == "secrets" || r == "*" {
				t.Errorf("the default ClusterRole grants %v on %v", get(rule, "verbs"), r)
			}
		}
		// Writes beyond status: what the waypoint controller applies
		// (waypoints.enabled), create and patch only.
		applied := map[string]bool{"gatewayclasses": true, "serviceaccounts": true, "services": true, "deployments": true}
		for _, v := range get(rule, "verbs").([]any) {
			if (v == "create" || v == "patch") && applied[str(rule, "resources", "0")] {
				continue
			}
			if v != "get" && v != "list" && v != "watch" && !(v == "patch" && strings.HasSuffix(str(rule, "resources", "0"), "/status")) {
				t.Errorf("the ClusterRole grants %v on %v: only reads, patch on status, and create/patch on what waypoints need", v, get(rule, "resources"))
			}
		}
	}
}

// TestTemplate_Values checks that each value reaches what it configures.
func TestTemplate_Values(t *testing.T) {
	dir, h := chart(t)

	t.Run("one replica: no PDB, no anti-affinity", func(t *testing.T) {
		objs := render(t, h, dir, "aeraki", "istio-system", "--set", "replicaCount=1")
		if has(objs, "PodDisruptionBudget") {
			t.Error("a PodDisruptionBudget with one replica blocks every node drain")
		}
		if a := get(find(t, objs, "Deployment", "aeraki"), "spec", "template", "spec", "affinity"); a != nil {
			t.Errorf("affinity %v with one replica", a)
		}
	})

	t.Run("release name, image, flags", func(t *testing.T) {
		objs := render(t, h, dir, "mesh", "tools",
			"--set", "image.repository=registry.example/aeraki,image.tag=1.0.0,logLevel=debug,logFormat=text",
			"--set", "leaderElection.leaseName=mesh-lease,leaderElection.leaseDuration=30s",
			"--set", "mesh.trustDomain=example.org,mesh.rootNamespace=mesh-root",
			"--set-string", `pluginOptions.dubbo\.filter=dubbo_proxy`, "--set-string", `pluginOptions.metaprotocol\.aeraki-proxy=true`,
			"--set", "extraArgs[0]=--debounce=250ms", "--set", "sidecarProxyProfile=envoy")
		c := container(t, objs, "mesh-aeraki")
		if str(c, "image") != "registry.example/aeraki:1.0.0" {
			t.Errorf("image %q", str(c, "image"))
		}
		want := []string{"serve", "--log-format=text", "--log-level=debug", "--leader-election-id=mesh-lease",
			"--leader-election-lease-duration=30s", "--tls-cert-dir=/etc/aeraki/tls", "--ca-address=istiod.istio-system.svc:15012",
			"--waypoint-class=aeraki-waypoint", "--waypoint-agent-image=registry.example/aeraki:1.0.0",
			"--sidecar-proxy=envoy", "--trust-domain=example.org", "--root-namespace=mesh-root",
			"--plugin-option=dubbo.filter=dubbo_proxy", "--plugin-option=metaprotocol.aeraki-proxy=true", "--debounce=250ms"}
		if got := args(c); !reflect.DeepEqual(got, want) {
			t.Errorf("args\n%q\nwant\n%q", got, want)
		}
		role := find(t, objs, "Role", "mesh-aeraki-leader-election")
		if !reflect.DeepEqual(get(role, "rules", "1", "resourceNames"), []any{"mesh-lease"}) {
			t.Errorf("the leader Role names %v, want the configured Lease", get(role, "rules", "1", "resourceNames"))
		}
		if ns := str(find(t, objs, "RoleBinding", "mesh-aeraki-leader-election"), "subjects", "0", "namespace"); ns != "tools" {
			t.Errorf("RoleBinding subject namespace %q", ns)
		}
	})

	t.Run("plaintext only", func(t *testing.T) {
		objs := render(t, h, dir, "aeraki", "istio-system", "--set", "tls.secretName=,tls.istioCA.address=")
		c := container(t, objs, "aeraki")
		for _, a := range args(c) {
			if strings.HasPrefix(a, "--tls-cert-dir") || strings.HasPrefix(a, "--ca-address") {
				t.Errorf("no certificate source set, yet args carry %s", a)
			}
		}
		if c["volumeMounts"] != nil {
			t.Errorf("volumeMounts %v / objects %v without a certificate source", c["volumeMounts"], names(objs))
		}
		for _, n := range names(objs) {
			if strings.HasSuffix(n, "mesh-root") {
				t.Errorf("%s without tls.istioCA", n)
			}
		}
	})

	t.Run("digest wins over tag", func(t *testing.T) {
		d := "sha256:" + strings.Repeat("ab", 32)
		c := container(t, render(t, h, dir, "aeraki", "istio-system", "--set", "image.digest="+d), "aeraki")
		if str(c, "image") != "ghcr.io/aeraki-ng/aeraki@"+d {
			t.Errorf("image %q", str(c, "image"))
		}
	})

	t.Run("Secrets reader and ServiceMonitor on request", func(t *testing.T) {
		objs := render(t, h, dir, "aeraki", "istio-system", "--set", "rbac.redisSecrets=true,serviceMonitor.enabled=true,serviceMonitor.labels.release=prom")
		cr := find(t, objs, "ClusterRole", "aeraki-secrets")
		if !reflect.DeepEqual(get(cr, "rules", "0", "resources"), []any{"secrets"}) || !reflect.DeepEqual(get(cr, "rules", "0", "verbs"), []any{"get", "list", "watch"}) {
			t.Errorf("Secrets ClusterRole %v", cr["rules"])
		}
		find(t, objs, "ClusterRoleBinding", "aeraki-secrets")
		sm := find(t, objs, "ServiceMonitor", "aeraki")
		if str(sm, "spec", "endpoints", "0", "port") != "http-monitoring" || str(sm, "metadata", "labels", "release") != "prom" ||
			!reflect.DeepEqual(get(sm, "spec", "selector", "matchLabels"), get(find(t, objs, "Service", "aeraki"), "spec", "selector")) {
			t.Errorf("ServiceMonitor %v", sm)
		}
	})

	t.Run("existing ServiceAccount", func(t *testing.T) {
		objs := render(t, h, dir, "aeraki", "istio-system", "--set", "serviceAccount.create=false,serviceAccount.name=platform-aeraki")
		if has(objs, "ServiceAccount") {
			t.Error("serviceAccount.create=false still creates one")
		}
		if got := str(find(t, objs, "Deployment", "aeraki"), "spec", "template", "spec", "serviceAccountName"); got != "platform-aeraki" {
			t.Errorf("serviceAccountName %q", got)
		}
		if got := str(find(t, objs, "ClusterRoleBinding", "aeraki"), "subjects", "0", "name"); got != "platform-aeraki" {
			t.Errorf("ClusterRoleBinding binds %q", got)
		}
	})
}

// TestTemplate_Refuses checks that values aeraki cannot honour fail the
// install with a message, instead of being ignored.
func TestTemplate_Refuses(t *testing.T) {
	dir, h := chart(t)
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"--set", "logLevel=loud"}, "/logLevel"},
		{[]string{"--set", "replicaCount=0"}, "/replicaCount"},
		{[]string{"--set", "tls.source=secret"}, "/tls"},
		{[]string{"--set", "tls.istioCA.address=https://istiod"}, "/tls/istioCA/address"},
		{[]string{"--set", "leaderElection.leaseDuration=15"}, "/leaderElection/leaseDuration"},
		{[]string{"--set", "imageTag=1.0"}, "imageTag"},
		{[]string{"--set-string", "pluginOptions.nodot=1"}, "'nodot' does not match pattern"},
		{[]string{"--set", "serviceAccount.create=false"}, "serviceAccount.name is required"},
		{[]string{"--set", "sidecarProxyProfile=Envoy Proxy"}, "/sidecarProxyProfile"},
	} {
		out, errOut, err := h.Run(append([]string{"template", "aeraki", dir}, tc.set...)...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("helm template %v: err %v, want an error mentioning %q\n%s%s", tc.set, err, tc.want, errOut, out[:min(len(out), 200)])
		}
	}
}

// TestCRDsAreCRDDir checks the chart's crds/ (what helm install installs)
// against crd/ (what kubectl apply -f crd/ installs): `make chart-crds`.
func TestCRDsAreCRDDir(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	src, _ := filepath.Glob(filepath.Join(root, "crd", "*.aeraki.io_*.yaml"))
	dst, _ := filepath.Glob(filepath.Join(root, "charts", "aeraki", "crds", "*"))
	if len(src) == 0 {
		t.Fatal("no CRDs in crd/")
	}
	base := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !reflect.DeepEqual(base(src), base(dst)) {
		t.Fatalf("charts/aeraki/crds has %v, crd/ has %v: run `make chart-crds`", base(dst), base(src))
	}
	for i := range src {
		a, _ := os.ReadFile(src[i])
		b, _ := os.ReadFile(dst[i])
		if !bytes.Equal(a, b) {
			t.Errorf("charts/aeraki/crds/%s differs from crd/: run `make chart-crds`", filepath.Base(src[i]))
		}
	}
}

// TestClusterRoleGrantsEveryKind: the chart's ClusterRole lets aeraki read
// every kind the model reads with the builtin plugins (read from their
// descriptors, model.Kind.Resource) and patch the status of every kind
// with one, so a kind added to the core or a builtin plugin without its
// RBAC rule fails here rather than at start-up in a cluster. Secrets are
// granted separately (rbac.redisSecrets).
func TestClusterRoleGrantsEveryKind(t *testing.T) {
	dir, h := chart(t)
	role := find(t, render(t, h, dir, "aeraki", "istio-system"), "ClusterRole", "aeraki")
	granted := map[string]bool{} // group/resource/verb
	rules, _ := role["rules"].([]any)
	for _, r := range rules {
		for _, g := range get(r, "apiGroups").([]any) {
			for _, res := range get(r, "resources").([]any) {
				for _, v := range get(r, "verbs").([]any) {
					granted[g.(string)+"/"+res.(string)+"/"+v.(string)] = true
				}
			}
		}
	}
	reg, err := plugin.NewRegistry(builtin.Plugins()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range model.NewKindIndex(reg.Kinds()).All() {
		if k.GVK.Group == "" && k.GVK.Kind == "Secret" {
			continue
		}
		for _, v := range []string{"get", "list", "watch"} {
			if !granted[k.GVK.Group+"/"+k.Resource+"/"+v] {
				t.Errorf("the ClusterRole does not grant %s on %s (%s); add it to charts/aeraki/templates/rbac.yaml and run make install-manifests", v, k.Resource, k)
			}
		}
		if k.Status != nil && !granted[k.GVK.Group+"/"+k.Resource+"/status/patch"] {
			t.Errorf("the ClusterRole does not grant patch on %s/status (%s has a status aeraki writes)", k.Resource, k)
		}
	}
}
