package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Helm runs the real helm (built into BinDir by hack/test-deps.sh from
// tools/helm) the way an operator would, with its config, cache and data
// directories in a test's temporary directory so nothing of the caller's
// (repositories, plugins, registry logins) is used or changed.
type Helm struct {
	// Path is the helm binary.
	Path string
	// Kubeconfig is passed as --kubeconfig when set (install, upgrade, ...).
	Kubeconfig string
	home       string
}

// RequireHelm skips the test unless helm is installed in BinDir(), and
// returns it bound to kubeconfig ("" for commands that need no cluster:
// lint, template, package).
func RequireHelm(t testing.TB, kubeconfig string) *Helm {
	t.Helper()
	p, ok := binPath("helm")
	if !ok {
		t.Skipf("testenv: helm not found in %q; run `make test` (or `bash hack/test-deps.sh helm`) to build it", BinDir())
	}
	return &Helm{Path: p, Kubeconfig: kubeconfig, home: t.TempDir()}
}

// Run runs helm with args and returns its stdout, stderr and the error of
// the run. It never fails the test: callers decide what failure means.
func (h *Helm) Run(args ...string) (stdout, stderr string, err error) {
	if h.Kubeconfig != "" {
		args = append([]string{"--kubeconfig", h.Kubeconfig}, args...)
	}
	cmd := exec.Command(h.Path, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(h.home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(h.home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(h.home, "data"),
		"KUBECONFIG=", // only --kubeconfig, never the caller's cluster
	)
	return capture(cmd)
}

// Must runs helm and fails the test, with helm's output, when it does not
// succeed. It returns stdout.
func (h *Helm) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := h.Run(args...)
	return must(t, "helm", args, out, errOut, err)
}
