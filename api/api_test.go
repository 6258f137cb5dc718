package api_test

// These tests guard the API types and the CRDs generated from them:
//
//   - TestGeneratedFilesUpToDate: crd/ and zz_generated.deepcopy.go match what
//     `make generate` would write now.
//   - TestCorpusRoundTrip: every Aeraki demo manifest decodes strictly into our
//     types and encodes back to the same JSON.
//   - TestCRDsPassAPIServerChecks: the generated CRDs pass the API server's own
//     CRD validation (structural schema, CEL compilation and cost limits).
//   - TestSchemaCoversAeraki: every field of Aeraki's CRDs exists in ours with
//     the same type, and names, scope and short names match.
//   - TestValidObjectsAccepted / TestInvalidObjectsRejected: objects are checked
//     against the generated CRDs the way kube-apiserver checks a custom
//     resource on create (OpenAPI schema, list types, CEL rules, pruning),
//     without a cluster.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	crvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	dubbov1alpha1 "github.com/aeraki-ng/aeraki/api/dubbo/v1alpha1"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

const modulePath = "github.com/aeraki-ng/aeraki"

// generatorArgs are the controller-gen invocations of `make generate`; keep
// them in step with Makefile.generate.mk.
var generatorArgs = [][]string{
	{"object:headerFile=hack/boilerplate.go.txt", "paths=./api/..."},
	{"crd:allowDangerousTypes=true", "paths=./api/...", "output:crd:dir=./crd"},
}

// newObject returns an empty typed object for each kind this project serves.
var newObject = map[schema.GroupVersionKind]func() any{
	metaprotocolv1alpha1.SchemeGroupVersion.WithKind("MetaRouter"):          func() any { return &metaprotocolv1alpha1.MetaRouter{} },
	metaprotocolv1alpha1.SchemeGroupVersion.WithKind("ApplicationProtocol"): func() any { return &metaprotocolv1alpha1.ApplicationProtocol{} },
	redisv1alpha1.SchemeGroupVersion.WithKind("RedisService"):               func() any { return &redisv1alpha1.RedisService{} },
	redisv1alpha1.SchemeGroupVersion.WithKind("RedisDestination"):           func() any { return &redisv1alpha1.RedisDestination{} },
	dubbov1alpha1.SchemeGroupVersion.WithKind("DubboAuthorizationPolicy"):   func() any { return &dubbov1alpha1.DubboAuthorizationPolicy{} },
}

// repoRoot finds the root of this module from the test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module "+modulePath+"\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// corpusDir returns Aeraki's demo manifests (the compatibility corpus,
// testenv.RequireCorpus: $AERAKI_CORPUS, else shared/aeraki-corpus beside
// the checkout or a parent); without it the test fails saying so.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := testenv.RequireCorpus(t)
	if st, err := os.Stat(filepath.Join(dir, "aeraki-crd.yaml")); err != nil || st.IsDir() {
		t.Fatalf("CORPUS INCOMPLETE: %s has no aeraki-crd.yaml; point %s at the corpus", dir, testenv.CorpusEnv)
	}
	return dir
}

// document is one YAML document of a manifest file, as JSON.
type document struct {
	source string // file:index, for messages
	gvk    schema.GroupVersionKind
	yaml   []byte
	json   []byte
}

// readDocuments splits every .yaml/.yml file under dir into documents and
// keeps those whose kind passes keep.
func readDocuments(t *testing.T, dir string, keep func(schema.GroupVersionKind) bool) []document {
	t.Helper()
	var docs []document
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(dir, path)
		r := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for i := 0; ; i++ {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			js, err := yaml.YAMLToJSON(raw)
			if err != nil {
				return fmt.Errorf("%s document %d: %w", rel, i, err)
			}
			if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
				continue
			}
			var tm metav1.TypeMeta
			if err := json.Unmarshal(js, &tm); err != nil {
				return fmt.Errorf("%s document %d: %w", rel, i, err)
			}
			gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
			if keep(gvk) {
				docs = append(docs, document{source: fmt.Sprintf("%s#%d", rel, i), gvk: gvk, yaml: raw, json: js})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func ours(gvk schema.GroupVersionKind) bool { _, ok := newObject[gvk]; return ok }

// aerakiKind reports whether gvk is in one of the groups this project serves,
// whatever the version or kind, so an unexpected kind in the corpus is caught.
func aerakiKind(gvk schema.GroupVersionKind) bool {
	switch gvk.Group {
	case metaprotocolv1alpha1.GroupName, redisv1alpha1.GroupName, dubbov1alpha1.GroupName:
		return true
	}
	return false
}

func corpusDocuments(t *testing.T) []document {
	t.Helper()
	dir := corpusDir(t)
	docs := readDocuments(t, dir, aerakiKind)
	for _, d := range docs {
		if !ours(d.gvk) {
			t.Errorf("%s: corpus has %s, which no type of ours serves", d.source, d.gvk)
		}
	}
	if len(docs) < 40 {
		t.Fatalf("found only %d Aeraki objects in %s; is the corpus complete?", len(docs), dir)
	}
	return docs
}

// ---------------------------------------------------------------------------
// Staleness of generated files.

// controllerGen returns the controller-gen binary of `make generate`,
// building it from the pinned tool module when it is missing or of another
// version.
func controllerGen(t *testing.T, root string) string {
	t.Helper()
	toolDir := filepath.Join(root, "tools", "controller-gen")
	modData, err := os.ReadFile(filepath.Join(toolDir, "go.mod"))
	if err != nil {
		t.Fatalf("reading the controller-gen tool module: %v", err)
	}
	want := ""
	for _, line := range strings.Split(string(modData), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == "sigs.k8s.io/controller-tools" {
			want = f[1]
		}
	}
	if want == "" {
		t.Fatal("tools/controller-gen/go.mod does not require sigs.k8s.io/controller-tools")
	}
	bin := filepath.Join(root, ".cache", "bin", "controller-gen")
	if out, err := exec.Command(bin, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == "Version: "+want {
		return bin
	}
	build := exec.Command("go", "build", "-o", bin, "sigs.k8s.io/controller-tools/cmd/controller-gen")
	build.Dir = toolDir
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build controller-gen %s, so generated files are not checked (run `make generate` where it builds): %v\n%s", want, err, out)
	}
	return bin
}

// copyTree copies the regular files under src that keep accepts to dst.
func copyTree(t *testing.T, src, dst string, keep func(rel string, d fs.DirEntry) bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if !keep(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// generatedFiles lists, relative to root, the files `make generate` owns.
func generatedFiles(t *testing.T, root string) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	_ = filepath.WalkDir(filepath.Join(root, "api"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "zz_generated.deepcopy.go" {
			rel, _ := filepath.Rel(root, path)
			files[rel] = true
		}
		return nil
	})
	crds, _ := filepath.Glob(filepath.Join(root, "crd", "*.aeraki.io_*.yaml"))
	for _, c := range crds {
		rel, _ := filepath.Rel(root, c)
		files[rel] = true
	}
	return files
}

func TestGeneratedFilesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen; skipped in -short mode")
	}
	root := repoRoot(t)
	bin := controllerGen(t, root)

	// Generate into a copy of the module that holds the API sources only, so
	// the checkout is never touched and stale outputs are not carried over.
	tmp := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", filepath.Join("hack", "boilerplate.go.txt")} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyTree(t, filepath.Join(root, "api"), filepath.Join(tmp, "api"), func(rel string, d fs.DirEntry) bool {
		if d.IsDir() {
			return d.Name() != "testdata"
		}
		return strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") && d.Name() != "zz_generated.deepcopy.go"
	})
	for _, args := range generatorArgs {
		cmd := exec.Command(bin, args...)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	want := generatedFiles(t, tmp)
	have := generatedFiles(t, root)
	var stale []string
	for f := range want {
		fresh, _ := os.ReadFile(filepath.Join(tmp, f))
		committed, err := os.ReadFile(filepath.Join(root, f))
		switch {
		case err != nil:
			stale = append(stale, f+": missing")
		case !bytes.Equal(fresh, committed):
			stale = append(stale, f+": differs from generator output ("+firstDifference(committed, fresh)+")")
		}
	}
	for f := range have {
		if !want[f] {
			stale = append(stale, f+": no longer generated")
		}
	}
	sort.Strings(stale)
	for _, s := range stale {
		t.Error(s)
	}
	if len(stale) > 0 {
		t.Log("generated files are stale: run `make generate` and commit the result")
	}
}

// firstDifference describes the first line where two files differ.
func firstDifference(committed, fresh []byte) string {
	a := strings.Split(string(committed), "\n")
	b := strings.Split(string(fresh), "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != lb || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("line %d: committed %q, generated %q", i+1, la, lb)
		}
	}
	return "same lines"
}

// ---------------------------------------------------------------------------
// Corpus round trip.

func TestCorpusRoundTrip(t *testing.T) {
	t.Run("testdata", func(t *testing.T) {
		checkRoundTrip(t, readDocuments(t, filepath.Join(repoRoot(t), "api", "testdata", "valid"), ours))
	})
	t.Run("corpus", func(t *testing.T) { checkRoundTrip(t, corpusDocuments(t)) })
}

func checkRoundTrip(t *testing.T, docs []document) {
	t.Helper()
	for _, d := range docs {
		obj := newObject[d.gvk]()
		if err := yaml.UnmarshalStrict(d.yaml, obj); err != nil {
			t.Errorf("%s: strict decoding into %T: %v", d.source, obj, err)
			continue
		}
		out, err := json.Marshal(obj)
		if err != nil {
			t.Errorf("%s: encoding: %v", d.source, err)
			continue
		}
		var want, got any
		if err := json.Unmarshal(d.json, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: round trip through %T changed the object:\n original: %s\n encoded:  %s", d.source, obj, d.json, out)
		}
	}
	t.Logf("%d objects round-tripped", len(docs))
}

// ---------------------------------------------------------------------------
// Validation against the generated CRDs, the way kube-apiserver does it.

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	apiextensionsinstall.Install(s)
	return s
}()

// crdFile is one generated CRD with what the API server derives from it.
type crdFile struct {
	path     string
	v1       *apiextensionsv1.CustomResourceDefinition
	internal *apiextensionsinternal.CustomResourceDefinition
}

func loadCRDs(t *testing.T) []crdFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), "crd", "*.aeraki.io_*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no generated CRDs in crd/ (run `make generate`): %v", err)
	}
	var crds []crdFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		v1 := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, v1); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		scheme.Default(v1)
		internal := &apiextensionsinternal.CustomResourceDefinition{}
		if err := scheme.Convert(v1, internal, nil); err != nil {
			t.Fatalf("%s: converting to the internal CRD type: %v", p, err)
		}
		// What the registry sets on create.
		for _, v := range internal.Spec.Versions {
			if v.Storage {
				internal.Status.StoredVersions = []string{v.Name}
			}
		}
		crds = append(crds, crdFile{path: p, v1: v1, internal: internal})
	}
	return crds
}

func TestCRDsPassAPIServerChecks(t *testing.T) {
	for _, c := range loadCRDs(t) {
		if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), c.internal); len(errs) > 0 {
			t.Errorf("%s is not a valid CRD for kube-apiserver:\n%v", filepath.Base(c.path), errs.ToAggregate())
		}
	}
}

// resourceValidator checks custom resources of one kind.
type resourceValidator struct {
	structural *structuralschema.Structural
	schema     crvalidation.SchemaValidator
	cel        *cel.Validator
}

func validators(t *testing.T) map[schema.GroupVersionKind]*resourceValidator {
	t.Helper()
	out := map[schema.GroupVersionKind]*resourceValidator{}
	for _, c := range loadCRDs(t) {
		for _, v := range c.internal.Spec.Versions {
			gvk := schema.GroupVersionKind{Group: c.internal.Spec.Group, Version: v.Name, Kind: c.internal.Spec.Names.Kind}
			// With one version the internal type keeps the schema at spec level.
			validation, err := apiextensionsinternal.GetSchemaForVersion(c.internal, v.Name)
			if err != nil || validation == nil || validation.OpenAPIV3Schema == nil {
				t.Fatalf("%s: no schema for version %s: %v", c.path, v.Name, err)
			}
			s, err := structuralschema.NewStructural(validation.OpenAPIV3Schema)
			if err != nil {
				t.Fatalf("%s: not a structural schema: %v", c.path, err)
			}
			sv, _, err := crvalidation.NewSchemaValidator(validation.OpenAPIV3Schema)
			if err != nil {
				t.Fatalf("%s: %v", c.path, err)
			}
			out[gvk] = &resourceValidator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
		}
	}
	for gvk := range newObject {
		if out[gvk] == nil {
			t.Fatalf("no CRD in crd/ serves %s (run `make generate`)", gvk)
		}
	}
	return out
}

// validate returns the errors kube-apiserver would report on creating obj,
// plus the fields it would prune as unknown.
func (v *resourceValidator) validate(obj map[string]any) (field.ErrorList, []string) {
	errs := crvalidation.ValidateCustomResource(nil, obj, v.schema)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	blocking := false
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			blocking = true // the API server skips CEL rules then
		}
	}
	if v.cel != nil && !blocking {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	pruned := runtime.DeepCopyJSON(obj)
	opts := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	unknown := pruning.PruneWithOptions(pruned, v.structural, true, opts)
	return errs, unknown
}

// toObject decodes JSON the way the API server does for custom resources:
// whole numbers become int64, which CEL's int type needs.
func toObject(t *testing.T, js []byte) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := utiljson.Unmarshal(js, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestValidObjectsAccepted(t *testing.T) {
	vs := validators(t)
	docs := readDocuments(t, filepath.Join(repoRoot(t), "api", "testdata", "valid"), ours)
	t.Run("testdata", func(t *testing.T) { checkAccepted(t, vs, docs) })
	t.Run("corpus", func(t *testing.T) { checkAccepted(t, vs, corpusDocuments(t)) })
}

func checkAccepted(t *testing.T, vs map[schema.GroupVersionKind]*resourceValidator, docs []document) {
	t.Helper()
	for _, d := range docs {
		errs, unknown := vs[d.gvk].validate(toObject(t, d.json))
		if len(errs) > 0 {
			t.Errorf("%s: rejected by our CRD:\n%v", d.source, errs.ToAggregate())
		}
		if len(unknown) > 0 {
			t.Errorf("%s: fields unknown to our CRD (kubectl would refuse them, the server would drop them): %v", d.source, unknown)
		}
	}
}

// TestInvalidObjectsRejected checks each manifest in testdata/invalid is
// refused with the message its "# want:" line gives. The same files can be
// applied to a real API server.
func TestInvalidObjectsRejected(t *testing.T) {
	vs := validators(t)
	dir := filepath.Join(repoRoot(t), "api", "testdata", "invalid")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("want at least 12 invalid manifests in %s, found %d", dir, len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, strings.TrimSpace(w))
				}
			}
			if len(wants) == 0 {
				t.Fatal(`no "# want: <message fragment>" line`)
			}
			js, err := yaml.YAMLToJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			var tm metav1.TypeMeta
			if err := json.Unmarshal(js, &tm); err != nil {
				t.Fatal(err)
			}
			v := vs[tm.GroupVersionKind()]
			if v == nil {
				t.Fatalf("no CRD for %s", tm.GroupVersionKind())
			}
			errs, unknown := v.validate(toObject(t, js))
			if len(unknown) > 0 {
				t.Errorf("has fields unknown to the CRD, so it does not test what it means to: %v", unknown)
			}
			if len(errs) == 0 {
				t.Fatalf("accepted; want an error containing %q", wants)
			}
			msg := errs.ToAggregate().Error()
			for _, w := range wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Compatibility with Aeraki's own CRDs.

func TestSchemaCoversAeraki(t *testing.T) {
	dir := corpusDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "aeraki-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ourCRDs := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, c := range loadCRDs(t) {
		ourCRDs[c.v1.Name] = c.v1
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	seen := 0
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		theirs := &apiextensionsv1.CustomResourceDefinition{}
		// Not strict: Aeraki's file repeats a key (gateways) in one schema.
		if err := yaml.Unmarshal(raw, theirs); err != nil {
			t.Fatal(err)
		}
		if theirs.Name == "" {
			continue
		}
		seen++
		mine := ourCRDs[theirs.Name]
		if mine == nil {
			t.Errorf("Aeraki defines %s; we do not", theirs.Name)
			continue
		}
		if mine.Spec.Group != theirs.Spec.Group || mine.Spec.Scope != theirs.Spec.Scope ||
			mine.Spec.Names.Kind != theirs.Spec.Names.Kind || mine.Spec.Names.Plural != theirs.Spec.Names.Plural ||
			mine.Spec.Names.Singular != theirs.Spec.Names.Singular || mine.Spec.Names.ListKind != theirs.Spec.Names.ListKind {
			t.Errorf("%s: group/scope/names differ from Aeraki's: ours %+v %s, theirs %+v %s", theirs.Name, mine.Spec.Names, mine.Spec.Scope, theirs.Spec.Names, theirs.Spec.Scope)
		}
		if !reflect.DeepEqual(mine.Spec.Names.ShortNames, theirs.Spec.Names.ShortNames) {
			t.Errorf("%s: short names %v, Aeraki has %v", theirs.Name, mine.Spec.Names.ShortNames, theirs.Spec.Names.ShortNames)
		}
		for _, c := range theirs.Spec.Names.Categories {
			if !contains(mine.Spec.Names.Categories, c) {
				t.Errorf("%s: category %q of Aeraki missing", theirs.Name, c)
			}
		}
		for _, tv := range theirs.Spec.Versions {
			mv := findVersion(mine, tv.Name)
			if mv == nil {
				t.Errorf("%s: version %s of Aeraki missing", theirs.Name, tv.Name)
				continue
			}
			if !mv.Served || !mv.Storage || mv.Subresources == nil || mv.Subresources.Status == nil {
				t.Errorf("%s/%s: want served, storage and a status subresource", theirs.Name, tv.Name)
			}
			for _, col := range tv.AdditionalPrinterColumns {
				if findColumn(mv, col.Name) == nil {
					t.Errorf("%s/%s: printer column %q of Aeraki missing", theirs.Name, tv.Name, col.Name)
				}
			}
			compareSchema(t, theirs.Name+" .spec", tv.Schema.OpenAPIV3Schema.Properties["spec"], mv.Schema.OpenAPIV3Schema.Properties["spec"])
		}
	}
	if seen != len(newObject) {
		t.Errorf("Aeraki's CRD file has %d CRDs, we serve %d kinds", seen, len(newObject))
	}
}

// compareSchema checks that every property of theirs exists in mine with the
// same type, recursively.
func compareSchema(t *testing.T, path string, theirs, mine apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	if theirs.Type != mine.Type {
		t.Errorf("%s: type %q, Aeraki has %q", path, mine.Type, theirs.Type)
		return
	}
	if theirs.Nullable && !mine.Nullable {
		t.Errorf("%s: Aeraki allows null, we do not", path)
	}
	for _, e := range theirs.Enum {
		found := false
		for _, m := range mine.Enum {
			if bytes.Equal(e.Raw, m.Raw) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: enum value %s of Aeraki not allowed", path, e.Raw)
		}
	}
	for name, p := range theirs.Properties {
		mp, ok := mine.Properties[name]
		if !ok {
			t.Errorf("%s.%s: Aeraki field missing", path, name)
			continue
		}
		compareSchema(t, path+"."+name, p, mp)
	}
	if theirs.Items != nil && theirs.Items.Schema != nil {
		if mine.Items == nil || mine.Items.Schema == nil {
			t.Errorf("%s[]: Aeraki list has an item schema, ours none", path)
		} else {
			compareSchema(t, path+"[]", *theirs.Items.Schema, *mine.Items.Schema)
		}
	}
	if theirs.AdditionalProperties != nil && theirs.AdditionalProperties.Schema != nil {
		if mine.AdditionalProperties == nil || mine.AdditionalProperties.Schema == nil {
			t.Errorf("%s{}: Aeraki map has a value schema, ours none", path)
		} else {
			compareSchema(t, path+"{}", *theirs.AdditionalProperties.Schema, *mine.AdditionalProperties.Schema)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func findVersion(crd *apiextensionsv1.CustomResourceDefinition, name string) *apiextensionsv1.CustomResourceDefinitionVersion {
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == name {
			return &crd.Spec.Versions[i]
		}
	}
	return nil
}

func findColumn(v *apiextensionsv1.CustomResourceDefinitionVersion, name string) *apiextensionsv1.CustomResourceColumnDefinition {
	for i := range v.AdditionalPrinterColumns {
		if v.AdditionalPrinterColumns[i].Name == name {
			return &v.AdditionalPrinterColumns[i]
		}
	}
	return nil
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{metaprotocolv1alpha1.AddToScheme, redisv1alpha1.AddToScheme, dubbov1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	for gvk, fn := range newObject {
		obj, err := s.New(gvk)
		if err != nil {
			t.Errorf("%s not registered: %v", gvk, err)
			continue
		}
		if reflect.TypeOf(obj) != reflect.TypeOf(fn()) {
			t.Errorf("%s registered as %T", gvk, obj)
		}
		if _, err := s.New(gvk.GroupVersion().WithKind(gvk.Kind + "List")); err != nil {
			t.Errorf("%sList not registered: %v", gvk.Kind, err)
		}
	}
}
