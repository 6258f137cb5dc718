package render_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

func registry(t *testing.T) *plugin.Registry {
	t.Helper()
	ps := builtin.Plugins()
	reg, err := plugin.NewRegistry(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// checkOutput validates every EnvoyFilter patch in the form istiod parses
// it, and every resource of every proxy.
func checkOutput(t *testing.T, res *render.Result) {
	t.Helper()
	for _, ef := range res.Output.EnvoyFilters {
		if err := ef.Validate(); err != nil {
			t.Errorf("EnvoyFilter %s/%s: %v", ef.Namespace, ef.Name, err)
		}
	}
	for _, u := range res.Output.Units {
		if u.FailedClosed {
			t.Errorf("unit %s failed closed: %v", u.Key, u.Diagnostics)
		}
	}
}

// TestExamplesRender renders every folder of examples/ that is not a Go
// module and requires a clean result.
func TestExamplesRender(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			continue // a plugin module, tested with its own plugin
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res, err := render.Render(render.Options{Paths: []string{dir}, Recursive: true, Registry: registry(t)})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range res.Diagnostics {
				if d.Severity >= model.SeverityWarning {
					t.Errorf("unexpected %s", d)
				}
			}
			checkOutput(t, res)
		})
	}
	if n == 0 {
		t.Fatal("no example folders found")
	}
}

// sharedPort is the error on the corpus' second address-less Dubbo
// ServiceEntry on port 20880.
const sharedPort = "ServiceEntry meta-dubbo/dubbo-secondservice (" // ...: org.apache.dubbo.samples.basic.api.secondservice and ...demoservice (ServiceEntry meta-dubbo/dubbo-demoservice) both have port 20880 and no address

// corpusCase is one folder of Aeraki's demo manifests: the namespace its
// manifests are applied to (kubectl apply -n), and the errors it is
// documented to produce (substrings; every error must match one, every
// substring must match an error).
type corpusCase struct {
	namespace string
	errors    []string
}

// corpus documents what each folder of the compatibility corpus renders to.
// Folders holding several alternative versions of one MetaRouter (v1, v2,
// traffic split, ...) render the last one in file order, as kubectl apply
// would leave it; the earlier ones are reported as replaced (warnings).
var corpus = map[string]corpusCase{
	"dubbo": {namespace: "default"},
	// DemoService and SecondService are ServiceEntries without addresses on
	// the same port: sidecars reach both through 0.0.0.0_20880, whose one
	// tcp_proxy chain only DemoService's filter can replace.
	"metaprotocol-dubbo":           {namespace: "meta-dubbo", errors: []string{sharedPort}},
	"metaprotocol-dubbo-app-level": {namespace: "meta-dubbo"},
	"redis":                        {namespace: "redis"},
	// The ingress Service's namespace is a shell variable the demo expects
	// to be expanded with envsubst; it is refused with that hint.
	"gateway": {namespace: "istio-system", errors: []string{`invalid namespace "${ISTIO_NAMESPACE}"`}},
	// Thrift (tcp-metaprotocol-thrift-* ports) is claimed by the thrift plugin.
	"metaprotocol-thrift": {namespace: "meta-thrift"},
	// Codecs only Aeraki's meta-protocol proxy has: with the default proxy
	// builds the ApplicationProtocol and the MetaRouter each get one error
	// naming the codec and the build that would carry it (profile
	// aeraki-meta-protocol-proxy, see TestCorpusOnAerakiMetaProtocolProxy),
	// and the port stays plain TCP. qza and videopacket are in no known
	// build, Aeraki's public image included.
	"metaprotocol-brpc":        {namespace: "meta-brpc", errors: aerakiOnly("brpc")},
	"metaprotocol-trpc":        {namespace: "meta-trpc", errors: aerakiOnly("trpc")},
	"metaprotocol-qza":         {namespace: "meta-qza", errors: inNoBuild("qza")},
	"metaprotocol-videopacket": {namespace: "meta-videopacket", errors: inNoBuild("videopacket")},
	// Sub-folders are applied on top of their parent folder.
	"metaprotocol-dubbo/rate-limit-server": {namespace: "meta-dubbo", errors: []string{sharedPort}},
	// These sub-folders' DestinationRule has the same name as the parent's
	// and replaces it without subsets (as kubectl apply would), so the
	// parent's routes to v1/v2 are refused.
	"metaprotocol-dubbo/consistent-hash-lb":  {namespace: "meta-dubbo", errors: []string{`subset "v1"`, `subset "v2"`, sharedPort}},
	"metaprotocol-thrift/consistent-hash-lb": {namespace: "meta-thrift", errors: []string{`subset "v1"`, `subset "v2"`}},
	"metaprotocol-thrift/outlier-detection":  {namespace: "meta-thrift", errors: []string{`subset "v1"`, `subset "v2"`}},
	"metaprotocol-thrift/rate-limit-server":  {namespace: "meta-thrift"},
}

// corpusDir is the compatibility corpus; without it the test fails
// saying so (testenv.RequireCorpus).
func corpusDir(t *testing.T) string {
	t.Helper()
	return testenv.RequireCorpus(t)
}

// TestCorpusRenders renders every folder of Aeraki's demo manifests and
// checks the result is valid config plus exactly the documented errors.
func TestCorpusRenders(t *testing.T) {
	root := corpusDir(t)
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		seen[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range seen {
		if _, ok := corpus[rel]; !ok {
			t.Errorf("corpus folder %s has no entry in the corpus table: add what it renders to", rel)
		}
	}
	for rel, c := range corpus {
		t.Run(rel, func(t *testing.T) {
			if !seen[rel] {
				t.Skipf("%s is not in this copy of the corpus", rel)
			}
			paths := []string{filepath.Join(root, rel)}
			if parent := filepath.Dir(rel); parent != "." {
				paths = append([]string{filepath.Join(root, parent)}, paths...)
			}
			res, err := render.Render(render.Options{Paths: paths, Registry: registry(t), File: fileOptions(c.namespace)})
			if err != nil {
				t.Fatal(err)
			}
			matched := map[string]bool{}
			for _, d := range res.Errors() {
				ok := false
				for _, want := range c.errors {
					if strings.Contains(d.String(), want) {
						ok, matched[want] = true, true
					}
				}
				if !ok {
					t.Errorf("undocumented error: %s", d)
				}
			}
			for _, want := range c.errors {
				if !matched[want] {
					t.Errorf("documented error %q did not occur", want)
				}
			}
			checkOutput(t, res)
		})
	}
}
