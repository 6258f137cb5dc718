package layering

import (
	"go/ast"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// TestCoreNamesNoPluginKind: the core (pkg/, internal/) reads a plugin's
// kinds only through their descriptors (plugin.KindProvider,
// model.Kind): no core file imports the Go package of a plugin's kind or
// spells its kind or group in a string, so an outside plugin's CRD gets
// everything a builtin's gets. The kinds checked are those the builtin
// plugins bring, read from their descriptors.
func TestCoreNamesNoPluginKind(t *testing.T) {
	reg, err := plugin.NewRegistry(builtin.Plugins()...)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]string{}  // Go package of a kind -> kind
	words := map[string]string{} // kind or group -> kind
	for _, k := range reg.Kinds() {
		pkgs[reflect.TypeOf(k.New()).Elem().PkgPath()] = k.String()
		words[k.GVK.Kind] = k.String()
		words[k.GVK.Group] = k.String()
	}
	if len(pkgs) == 0 {
		t.Fatal("the builtin plugins bring no kinds: nothing to check")
	}
	coreFiles(t, 0, func(rel string, f *ast.File) {
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if k, ok := pkgs[p]; ok {
				t.Errorf("%s imports %s, the package of the plugin kind %s: read it through its model.Kind descriptor instead", rel, p, k)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			for w, k := range words {
				if strings.Contains(lit.Value, w) {
					t.Errorf("%s: the string %s names the plugin kind %s: the core must not know a plugin's kinds", rel, lit.Value, k)
				}
			}
			return true
		})
	})
}
