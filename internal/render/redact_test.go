package render_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
)

// TestRenderRedactsSecretsByDefault renders the corpus' Redis folder,
// whose RedisService and RedisDestination carry passwords: the printed
// EnvoyFilters say "<redacted>" unless ShowSecrets (--show-secrets) is set,
// and no diagnostic ever quotes a password.
func TestRenderRedactsSecretsByDefault(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "redis")
	passwords := []string{"testredis123!", "testredis"}
	for _, show := range []bool{false, true} {
		res, err := render.Render(render.Options{Paths: []string{dir}, Registry: registry(t), File: fileOptions("redis"), ShowSecrets: show})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := render.WriteManifests(&b, res.Manifests(), "yaml"); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, d := range res.Diagnostics {
			for _, p := range passwords {
				if strings.Contains(d.String(), p) {
					t.Errorf("diagnostic quotes a password: %s", d)
				}
			}
		}
		switch {
		case !show && (strings.Contains(out, "testredis") || !strings.Contains(out, "<redacted>")):
			t.Errorf("default output must redact the passwords:\n%s", out)
		case show && (!strings.Contains(out, "testredis123!") || !strings.Contains(out, "inlineString: testredis\n")):
			t.Errorf("--show-secrets output must carry the passwords as served:\n%s", out)
		}
	}
}
