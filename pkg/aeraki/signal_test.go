package aeraki

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests below run the real aeraki process (Main, with
// its signal handling) by starting this test binary again.
func TestMain(m *testing.M) {
	if os.Getenv("AERAKI_TEST_RUN_MAIN") == "1" {
		Main(builtin.Plugins()...)
	}
	os.Exit(m.Run())
}

// aerakiProcess starts `aeraki args...` as a child process.
func aerakiProcess(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "AERAKI_TEST_RUN_MAIN=1")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &stdout, &stderr
}

// exitWithin waits for cmd and returns its exit status, failing the test
// when it is still running after a generous bound.
func exitWithin(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer, bound time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(bound):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("aeraki %v did not stop within %s of the signal:\n%s", cmd.Args[1:], bound, stderr.String())
		return -1
	}
}

// waitReadingManifests waits until the child has read the first of
// bigMesh's files (about 300 KB each), so it is past process start-up and
// has installed its signal handling (Main does that before it runs a
// command): a signal sent earlier gets the default action, which says
// nothing about aeraki, and start-up under -race takes longer than any
// fixed sleep. It reads the child's read count from /proc/<pid>/io and
// falls back to a fixed wait where that file does not exist.
func waitReadingManifests(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/io", cmd.Process.Pid)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err != nil {
			time.Sleep(300 * time.Millisecond)
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			var n int64
			if _, err := fmt.Sscanf(line, "rchar: %d", &n); err == nil && n > 128<<10 {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("aeraki %v read no manifests within 60s", cmd.Args[1:])
}

// bigMesh writes n Dubbo services (a few seconds of loading and minutes
// of rendering on a laptop) into a temporary directory.
func bigMesh(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	const perFile = 2000
	for f := 0; f*perFile < n; f++ {
		var b bytes.Buffer
		for i := f * perFile; i < min(n, (f+1)*perFile); i++ {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: demo}\nspec:\n  clusterIP: 10.%d.%d.%d\n  ports:\n  - {name: tcp-dubbo, port: 20880}\n",
				i, i>>16, (i>>8)&255, i&255)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("svc-%03d.yaml", f)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRenderStopsOnSignal: SIGINT or SIGTERM stops `aeraki render`
// promptly, whether it arrives while the manifests load, translate or
// stream out, with the shell's status for the signal and a message saying
// so; output stops between two documents, never inside one.
func TestRenderStopsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts aeraki processes")
	}
	dir := bigMesh(t, 30000) // loads in about 5 s here, renders in about 40 s
	for _, c := range []struct {
		name  string
		sig   syscall.Signal
		after time.Duration
	}{
		{"SIGINT while loading", syscall.SIGINT, 200 * time.Millisecond},
		{"SIGTERM later (translating or writing)", syscall.SIGTERM, 6 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd, stdout, stderr := aerakiProcess(t, "render", "-f", dir)
			waitReadingManifests(t, cmd)
			time.Sleep(c.after)
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			code := exitWithin(t, cmd, stderr, 20*time.Second)
			if code != 128+int(c.sig) || !strings.Contains(stderr.String(), "stopped: "+c.sig.String()) {
				t.Fatalf("want exit status %d and a message naming the signal, got %d:\n%s", 128+int(c.sig), code, stderr.String())
			}
			if out := stdout.String(); out != "" && (!strings.HasPrefix(out, "---\n") || !strings.HasSuffix(out, "\n")) {
				t.Errorf("a stopped render's output does not end between documents: ...%q", out[max(0, len(out)-80):])
			}
		})
	}
}

// TestServeStopsOnSignal: SIGTERM stops `aeraki serve --config-dir`
// promptly and with status 0, during its first load and once it serves.
func TestServeStopsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts aeraki processes")
	}
	big := bigMesh(t, 30000)
	small := bigMesh(t, 3)
	for _, c := range []struct {
		name, dir string
		ready     bool
	}{
		{"while loading", big, false},
		{"while serving", small, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			debug := freeAddr(t)
			cmd, _, stderr := aerakiProcess(t, "serve", "--config-dir", c.dir, "--xds-address", "127.0.0.1:0",
				"--monitoring-address", freeAddr(t), "--debug-address", debug, "--shutdown-timeout", "30s")
			if c.ready {
				waitReady(t, debug, stderr)
			} else {
				waitReadingManifests(t, cmd)
				time.Sleep(100 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := exitWithin(t, cmd, stderr, 20*time.Second); code != 0 {
				t.Fatalf("serve exited %d after SIGTERM, want 0:\n%s", code, stderr.String())
			}
		})
	}
}

func waitReady(t *testing.T, debug string, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + debug + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve never became ready:\n%s", stderr.String())
}
