package aeraki

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServeRunsUntilCanceledAndExitsZero(t *testing.T) {
	serveUntilCanceled(t, builtin.Plugins())
}

// ownDubbo stands for a custom build's own Dubbo plugin.
type ownDubbo struct{ *dubbo.Plugin }

func (ownDubbo) Description() string { return "our own dubbo" }

// TestCustomBuildsServe: the caller chooses the plugins. A build without
// hbone (sidecars only) and a build that replaces the builtin dubbo plugin
// start, translate and serve.
func TestCustomBuildsServe(t *testing.T) {
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		plugins []plugin.Plugin
		listed  string
		absent  string
	}{
		{"without-hbone", builtin.Without(builtin.Plugins(), "hbone"), "dubbo", "hbone"},
		{"own-dubbo", builtin.With(ownDubbo{d}), "our own dubbo", "Dubbo routing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := Run(context.Background(), []string{"plugins"}, &out, &errOut, c.plugins...); code != 0 {
				t.Fatalf("plugins exited %d: %s", code, errOut.String())
			}
			if !strings.Contains(out.String(), c.listed) || strings.Contains(out.String(), c.absent) {
				t.Fatalf("aeraki plugins:\n%s\nwant %q listed and no %q", out.String(), c.listed, c.absent)
			}
			serveUntilCanceled(t, c.plugins)
		})
	}
}

// serveUntilCanceled runs `aeraki serve` with plugins on a Dubbo service
// until it is ready and has generated config, then stops it.
func serveUntilCanceled(t *testing.T, plugins []plugin.Plugin) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "svc.yaml"), []byte(`
apiVersion: v1
kind: Service
metadata: {name: demo, namespace: demo}
spec:
  clusterIP: 10.0.0.9
  ports:
  - {name: tcp-dubbo, port: 20880}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	debug := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--config-dir", dir, "--plaintext-address", "127.0.0.1:0",
			"--monitoring-address", freeAddr(t), "--debug-address", debug, "--log-format", "json"}, &stdout, &stderr, plugins...)
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + debug + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before it was ready:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel() // what SIGTERM does through Main
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d after shutdown, want 0:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	for _, want := range []string{`"msg":"serving"`, `"msg":"config generated"`, `"msg":"stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, stderr.String())
		}
	}
}

func TestServeWithoutConfigDirNamesTheFlag(t *testing.T) {
	// No cluster either: no kubeconfig, not in a pod.
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"serve"}, &stdout, &stderr, builtin.Plugins()...)
	if code == 0 || !strings.Contains(stderr.String(), "no config source: pass --config-dir DIR") || !strings.Contains(stderr.String(), "--kubeconfig") {
		t.Fatalf("serve without --config-dir: exit %d, stderr %q", code, stderr.String())
	}
}

func TestServeRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--config-dir", t.TempDir(), "--log-format", "xml"},
		{"serve", "--config-dir", filepath.Join(t.TempDir(), "missing")},
		{"serve", "--config-dir", t.TempDir(), "--plaintext-address", "256.0.0.1:1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), args, &stdout, &stderr, builtin.Plugins()...); code == 0 {
			t.Errorf("%v: exit 0, want an error", args)
		} else if stderr.Len() == 0 {
			t.Errorf("%v: no error message", args)
		}
	}
}

// TestPluginsListsTheKindsEachBrings: `aeraki plugins` says which kinds
// each plugin brings, so an operator knows what RBAC and CRDs a build
// needs.
func TestPluginsListsTheKindsEachBrings(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"plugins"}, &out, &errOut, builtin.Plugins()...); code != 0 {
		t.Fatalf("plugins exited %d: %s", code, errOut.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		want := map[string]string{"redis": "RedisService.redis.aeraki.io,RedisDestination.redis.aeraki.io",
			"dubbo": "DubboAuthorizationPolicy.dubbo.aeraki.io", "hbone": "-", "NAME": "KINDS"}[f[0]]
		if want != "" && f[2] != want {
			t.Errorf("aeraki plugins: %s brings %q, want %q\n%s", f[0], f[2], want, out.String())
		}
	}
}
