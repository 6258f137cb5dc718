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
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// Must runs kubectl and fails the test, with kubectl's output, when it
// does not succeed. It returns stdout.
func (k *Kubectl) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := k.Run("", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// MustStdin is Must with stdin, for `kubectl apply -f -`.
func (k *Kubectl) MustStdin(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := k.Run(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}
