package testenv

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// Kubectl runs the real kubectl (built into BinDir by hack/test-deps.sh)
// against one API server, the way an operator would.
type Kubectl struct {
	// Path is the kubectl binary.
	Path string
	// Kubeconfig is passed as --kubeconfig.
	Kubeconfig string
}

// RequireKubectl skips the test unless kubectl is installed in BinDir(),
// and returns it bound to kubeconfig.
func RequireKubectl(t testing.TB, kubeconfig string) *Kubectl {
	t.Helper()
	p, ok := binPath("kubectl")
	if !ok {
		t.Skipf("testenv: kubectl not found in %q; run `make test` (or `bash hack/test-deps.sh`) to install the test dependencies", BinDir())
	}
	return &Kubectl{Path: p, Kubeconfig: kubeconfig}
}

// Run runs kubectl with args (and stdin, if not empty) and returns its
// stdout and stderr and the error of the run (an *exec.ExitError when
// kubectl failed). It never fails the test: callers decide what failure
// means.
func (k *Kubectl) Run(stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(k.Path, append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return capture(cmd)
}

// capture runs cmd and returns what it printed and how it ended.
func capture(cmd *exec.Cmd) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// must fails the test with the command's output when err is set, and
// returns stdout.
func must(t testing.TB, name string, args []string, stdout, stderr string, err error) string {
	t.Helper()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// Must runs kubectl and fails the test, with kubectl's output, when it
// does not succeed. It returns stdout.
func (k *Kubectl) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := k.Run("", args...)
	return must(t, "kubectl", args, out, errOut, err)
}

// MustStdin is Must with stdin, for `kubectl apply -f -`.
func (k *Kubectl) MustStdin(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := k.Run(stdin, args...)
	return must(t, "kubectl", args, out, errOut, err)
}
