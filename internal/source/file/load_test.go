package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/plugins/redis"
)

const service = `apiVersion: v1
kind: Service
metadata:
  name: demo
spec:
  ports:
  - name: tcp-dubbo
    port: 20880
`

func load(t *testing.T, files map[string]string) (*model.Snapshot, []model.Diagnostic) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := model.NewBuilder(model.Options{})
	diags, err := file.Load(context.Background(), dir, b, file.Options{DefaultNamespace: "apps"})
	if err != nil {
		t.Fatal(err)
	}
	return b.Build(), diags
}

func only(diags []model.Diagnostic, sev model.Severity) []model.Diagnostic {
	var out []model.Diagnostic
	for _, d := range diags {
		if d.Severity == sev {
			out = append(out, d)
		}
	}
	return out
}

func wantOne(t *testing.T, diags []model.Diagnostic, sev model.Severity, fragments ...string) {
	t.Helper()
	got := only(diags, sev)
	if len(got) != 1 {
		t.Fatalf("want exactly one %s, got %d: %v", sev, len(got), got)
	}
	for _, f := range fragments {
		if !strings.Contains(got[0].String(), f) {
			t.Errorf("%s does not mention %q", got[0], f)
		}
	}
}

func TestMalformedYAMLIsOneErrorAndTheRestLoads(t *testing.T) {
	snap, diags := load(t, map[string]string{
		"a.yaml": service + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n spec: {}\n",
	})
	wantOne(t, diags, model.SeverityError, "a.yaml, document 2", "malformed YAML")
	if snap.View().Service("demo.apps.svc.cluster.local") == nil {
		t.Fatal("the valid document in the same file was not loaded")
	}
}

func TestUnknownFieldNamesObjectAndField(t *testing.T) {
	_, diags := load(t, map[string]string{"mr.yaml": `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata:
  name: r
spec:
  hosts: [demo]
  routes:
  - route:
    - destination: {host: demo}
      wieght: 10
`})
	wantOne(t, diags, model.SeverityError, "MetaRouter apps/r", "mr.yaml, document 1", `spec.routes[0].route[0].wieght`)
}

func TestWrongTypeNamesField(t *testing.T) {
	_, diags := load(t, map[string]string{"mr.yaml": `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata:
  name: r
spec:
  hosts: [demo]
  routes:
  - route:
    - destination: {host: demo}
      weight: eighty
`})
	wantOne(t, diags, model.SeverityError, "MetaRouter apps/r", "weight")
}

func TestSkippedKindsAreNotes(t *testing.T) {
	_, diags := load(t, map[string]string{
		"deploy.yaml":    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
		"ratelimit.yaml": "domain: production\ndescriptors: []\n",
	})
	if errs := only(diags, model.SeverityError); len(errs) != 0 {
		t.Fatalf("skipped documents must not be errors: %v", errs)
	}
	notes := only(diags, model.SeverityInfo)
	if len(notes) != 2 || !strings.Contains(notes[0].String()+notes[1].String(), "does not use Deployment.apps") {
		t.Fatalf("want two one-line notes, got %v", notes)
	}
}

func TestKindWithoutAPIVersionIsAnError(t *testing.T) {
	_, diags := load(t, map[string]string{"x.yaml": "kind: Service\nmetadata:\n  name: x\n"})
	wantOne(t, diags, model.SeverityError, "no apiVersion or no kind")
}

func TestUnsupportedVersionIsAnError(t *testing.T) {
	_, diags := load(t, map[string]string{"x.yaml": "apiVersion: metaprotocol.aeraki.io/v1\nkind: MetaRouter\nmetadata:\n  name: x\n"})
	wantOne(t, diags, model.SeverityError, `version "v1"`, "metaprotocol.aeraki.io/v1alpha1")
}

func TestNestedFoldersAndDuplicates(t *testing.T) {
	snap, diags := load(t, map[string]string{
		"a/svc.yaml":         service,
		"b/c/svc-again.yaml": service,
		".hidden/svc.yaml":   "not: [valid",
	})
	wantOne(t, diags, model.SeverityWarning, "Service apps/demo", "replaces the one in a/svc.yaml")
	if len(only(diags, model.SeverityError)) != 0 {
		t.Fatalf("hidden folders must be skipped: %v", diags)
	}
	if snap.View().Service("demo.apps.svc.cluster.local") == nil {
		t.Fatal("service not loaded from a nested folder")
	}
}

func TestClusterScopedKindsHaveNoNamespace(t *testing.T) {
	snap, diags := load(t, map[string]string{"ap.yaml": "apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: ApplicationProtocol\nmetadata:\n  name: trpc\nspec:\n  protocol: trpc\n  codec: aeraki.meta_protocol.codec.trpc\n"})
	if len(only(diags, model.SeverityError)) != 0 {
		t.Fatal(diags)
	}
	ap := snap.View().ApplicationProtocol("trpc")
	if ap == nil || ap.Namespace != "" {
		t.Fatalf("want the cluster-scoped ApplicationProtocol without a namespace, got %+v", ap)
	}
}

func TestLoadPathsIsOneLevelUnlessRecursive(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "svc.yaml"), []byte(service), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, recursive := range []bool{false, true} {
		b := model.NewBuilder(model.Options{})
		if _, err := file.LoadPaths(context.Background(), []string{dir}, recursive, b, file.Options{}); err != nil {
			t.Fatal(err)
		}
		got := b.Build().View().Service("demo.default.svc.cluster.local") != nil
		if got != recursive {
			t.Errorf("recursive=%v: loaded nested file = %v", recursive, got)
		}
	}
}

// TestPluginKindsAreReadOnlyWhenBrought: a document of a plugin's kind
// is decoded when the model options carry the plugin's kinds, with the
// versions its descriptor accepts, and skipped with a note saying no
// plugin of the build reads it otherwise.
func TestPluginKindsAreReadOnlyWhenBrought(t *testing.T) {
	const doc = `apiVersion: redis.aeraki.io/v1alpha1
kind: RedisService
metadata: {name: cache}
spec: {host: [cache]}
`
	without := model.NewBuilder(model.Options{})
	wantOne(t, file.LoadBytes("r.yaml", []byte(doc), without, file.Options{}), model.SeverityInfo,
		"skipped", "RedisService.redis.aeraki.io", "nor a plugin of this build")
	if n := len(without.Build().Objects()); n != 0 {
		t.Fatalf("%d objects read without the plugin's kind", n)
	}

	with := model.NewBuilder(model.Options{Kinds: redis.New().Kinds()})
	if diags := file.LoadBytes("r.yaml", []byte(doc), with, file.Options{DefaultNamespace: "apps"}); len(diags) != 0 {
		t.Fatalf("diagnostics %v", diags)
	}
	if _, ok := with.Build().Object(model.ObjectRef{Group: "redis.aeraki.io", Kind: "RedisService", Namespace: "apps", Name: "cache"}); !ok {
		t.Fatal("the RedisService was not read with the plugin's kinds")
	}
	bad := strings.Replace(doc, "v1alpha1", "v9", 1)
	wantOne(t, file.LoadBytes("r.yaml", []byte(bad), model.NewBuilder(model.Options{Kinds: redis.New().Kinds()}), file.Options{}), model.SeverityError,
		`version "v9" of RedisService.redis.aeraki.io is not supported; use redis.aeraki.io/v1alpha1`)
}
