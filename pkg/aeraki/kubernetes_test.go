package aeraki

import (
	"os"
	"path/filepath"
	"testing"
)

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + server + `"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClusterConfigOrder: --kubeconfig, then $KUBECONFIG, then in-cluster,
// and nothing else (not ~/.kube/config).
func TestClusterConfigOrder(t *testing.T) {
	flag := writeKubeconfig(t, "https://flag.example:6443")
	env := writeKubeconfig(t, "https://env.example:6443")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(writeKubeconfig(t, "https://home.example:6443"), filepath.Join(home, ".kube", "config")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)

	t.Setenv("KUBECONFIG", env)
	for _, tc := range []struct {
		flags kubeFlags
		host  string
	}{{kubeFlags{kubeconfig: flag}, "https://flag.example:6443"}, {kubeFlags{}, "https://env.example:6443"}} {
		cfg, where, found, err := clusterConfig(tc.flags)
		if err != nil || !found || cfg.Host != tc.host {
			t.Errorf("%+v: got %v (%s, found %v, %v), want %s", tc.flags, cfg, where, found, err, tc.host)
		}
	}

	t.Setenv("KUBECONFIG", "")
	if cfg, _, found, err := clusterConfig(kubeFlags{}); found || err != nil {
		t.Errorf("without a kubeconfig or a pod: found %v (%v, %v); want none", found, cfg, err)
	}

	if _, _, found, err := clusterConfig(kubeFlags{kubeconfig: filepath.Join(t.TempDir(), "missing")}); !found || err == nil {
		t.Errorf("a missing --kubeconfig must be an error, got found=%v err=%v", found, err)
	}
}
