package redis_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/golden"
	"github.com/aeraki-ng/aeraki/internal/plugingolden"
	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/plugins/redis"
)

// TestGolden renders every testdata/in case with the Redis plugin: the
// diagnostics, the sidecar EnvoyFilters (listener and cluster patches), and
// the waypoint role's filter and cluster patch, compared with
// testdata/out. Secrets are shown, to check they reach Envoy.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", func(t *testing.T, in string) string {
		reg := plugingolden.Registry(t, in, redis.New())
		return plugingolden.Render(t, in, reg, redis.Name, false)
	})
}

// TestPasswordsNeverShown: rendered output (by default), diagnostics and
// waypoint dumps carry no password from any test input.
func TestPasswordsNeverShown(t *testing.T) {
	secrets := []string{"pw-client-7", "pw-server-9", "testredis", "dGVzdHJlZGlz"}
	ins, _ := filepath.Glob("testdata/in/*.yaml")
	for _, in := range ins {
		reg := plugingolden.Registry(t, in, redis.New())
		out := plugingolden.Render(t, in, reg, redis.Name, true)
		res, err := render.Render(render.Options{Paths: []string{in}, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_ = render.WriteManifests(&b, res.Manifests(), "json")
		for _, d := range res.Diagnostics {
			b.WriteString(d.String())
		}
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(b.String(), s) {
				t.Errorf("%s: password %q shown in redacted output", in, s)
			}
		}
		raw, _ := os.ReadFile(in)
		hasSecret := strings.Contains(string(raw), "pw-") || strings.Contains(string(raw), "kind: Secret")
		if hasSecret && !strings.Contains(out, "<redacted>") {
			t.Errorf("%s: expected <redacted> in place of the password", in)
		}
	}
}
