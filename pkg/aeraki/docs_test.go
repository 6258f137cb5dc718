package aeraki_test

import (
	"bytes"
	"context"
	"flag"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/aeraki"
)

var updateDocs = flag.Bool("update", false, "rewrite the command output blocks in the docs (TestDocsShowRealOutput)")

// docOutput marks a block in a Markdown file as the output of an aeraki
// command, run from the repository root:
//
//	<!-- aeraki-output: aeraki trace -f examples/ambient-dubbo ... -o mermaid -->
//	```mermaid
//	...
//	```
var docOutput = regexp.MustCompile("(?m)^<!-- aeraki-output: aeraki (.+?) -->\n(```[a-z]*\n)((?s:.*?))(```\n)")

// TestDocsShowRealOutput checks that every block the README and the
// examples' READMEs mark as command output is what the command prints
// today. `go test ./pkg/aeraki -run TestDocsShowRealOutput -update`
// rewrites them; review the diff.
func TestDocsShowRealOutput(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	t.Chdir(root)
	files, _ := filepath.Glob("examples/*/README.md")
	files = append([]string{"README.md"}, files...)
	blocks := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var failed bool
		out := docOutput.ReplaceAllFunc(b, func(m []byte) []byte {
			sm := docOutput.FindSubmatch(m)
			blocks++
			command := string(sm[1])
			var stdout, stderr bytes.Buffer
			code := aeraki.Run(context.Background(), strings.Fields(command), &stdout, &stderr, builtin.Plugins()...)
			if code != 0 && code != 3 { // 3: a trace that stops, which docs show on purpose
				t.Errorf("%s: aeraki %s: exit %d\n%s", file, command, code, stderr.String())
				failed = true
				return m
			}
			if !bytes.Equal(stdout.Bytes(), sm[3]) {
				if !*updateDocs {
					t.Errorf("%s: the block after `aeraki-output: aeraki %s` is not what the command prints (run with -update and review):\n%s", file, command, stdout.String())
				}
				failed = true
			}
			return []byte("<!-- aeraki-output: aeraki " + command + " -->\n" + string(sm[2]) + stdout.String() + string(sm[4]))
		})
		if *updateDocs && failed {
			if err := os.WriteFile(file, out, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if blocks < 3 {
		t.Errorf("found %d aeraki-output blocks, want the README's trace diagram and examples/ambient-dubbo's trace and diagram", blocks)
	}
}
