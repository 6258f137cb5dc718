package aeraki_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCustomBuildFromExampleModule builds the example plugin module's
// aeraki the way an outside author would (its own go.mod, replace to this
// repository) and checks the plugin is registered and renders its config.
func TestCustomBuildFromExampleModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped with -short")
	}
	dir, err := filepath.Abs("../../examples/plugin-awesomerpc")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "aeraki-awesomerpc")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aeraki-awesomerpc")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the custom aeraki failed: %v\n%s", err, out)
	}

	out, err := exec.Command(bin, "plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("aeraki plugins: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "awesomerpc  ") || !strings.Contains(string(out), "dubbo") {
		t.Fatalf("aeraki plugins does not list the example plugin next to the built-in ones:\n%s", out)
	}

	// The codec is in the user's own Envoy build, which a profile file
	// describes; on the default istio-proxy sidecars the port stays TCP.
	cmd := exec.Command(bin, "render", "-f", filepath.Join(dir, "config"),
		"--proxy-profile", filepath.Join(dir, "envoy-awesomerpc.profile.yaml"), "--sidecar-proxy", "envoy-awesomerpc")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		t.Fatalf("aeraki render: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{
		"name: awesomerpc.codec.v1.CodecConfig",
		"aeraki-outbound-greeter.demo.svc.cluster.local",
		"outbound|7777|canary|greeter.demo.svc.cluster.local",
		"propertyName: tenant",
		"aeraki.io/proxy-build: envoy-awesomerpc",
	} {
		if !strings.Contains(string(rendered), want) {
			t.Errorf("render output does not contain %q:\n%s", want, rendered)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("render reported problems: %s", stderr.String())
	}
}
