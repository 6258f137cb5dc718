package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepoRootAndBinDir(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if got := modulePathOf(filepath.Join(root, "go.mod")); got != ModulePath {
		t.Fatalf("RepoRoot() = %s whose module is %q", root, got)
	}

	t.Setenv("KUBEBUILDER_ASSETS", "")
	if got, want := BinDir(), filepath.Join(root, ".cache", "bin"); got != want {
		t.Errorf("BinDir() = %q, want %q", got, want)
	}
	assets := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", assets)
	if got := BinDir(); got != assets {
		t.Errorf("BinDir() with KUBEBUILDER_ASSETS = %q, want %q", got, assets)
	}
	if m := missingBinaries("etcd"); len(m) != 1 {
		t.Errorf("missingBinaries in an empty dir = %v", m)
	}
}

func TestIstioCRDsPresent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(IstioCRDDir(), "crd-all.gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range []string{"envoyfilters.networking.istio.io", "serviceentries.networking.istio.io", "sidecars.networking.istio.io"} {
		if !strings.Contains(string(b), "name: "+crd) {
			t.Errorf("crd-all.gen.yaml has no %s", crd)
		}
	}
}

func TestMeshConfigYAML(t *testing.T) {
	got := meshConfigYAML(IstiodOptions{Namespace: "istio-system", MCPAddress: "127.0.0.1:1234"})
	for _, want := range []string{`- address: "xds://127.0.0.1:1234"`, `- address: "k8s://"`, "rootNamespace: istio-system"} {
		if !strings.Contains(got, want) {
			t.Errorf("mesh config misses %q:\n%s", want, got)
		}
	}
	got = meshConfigYAML(IstiodOptions{Namespace: "x", ConfigSources: []string{"xds://127.0.0.1:1"}})
	if strings.Contains(got, "k8s://") {
		t.Errorf("explicit ConfigSources must be used verbatim:\n%s", got)
	}
}
