package trace_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/trace"
)

var update = flag.Bool("update", false, "rewrite testdata/diagram/out from the current output")

// TestDiagram_Golden draws each traced call in testdata/diagram/in (the
// JSON of `aeraki trace -o json`: three calls on examples/ambient-dubbo and
// a hand-made one with characters both formats must escape) as Mermaid and
// DOT, against testdata/diagram/out. With Graphviz installed, every DOT file
// must render.
func TestDiagram_Golden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "diagram", "in", "*.json"))
	if len(inputs) == 0 {
		t.Fatal("no inputs in testdata/diagram/in")
	}
	dot, dotErr := exec.LookPath("dot")
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var r trace.Result
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			for ext, write := range map[string]func(*trace.Result, *bytes.Buffer) error{
				".mmd": func(r *trace.Result, w *bytes.Buffer) error { return r.WriteMermaid(w) },
				".dot": func(r *trace.Result, w *bytes.Buffer) error { return r.WriteDOT(w) },
			} {
				var got bytes.Buffer
				if err := write(&r, &got); err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", "diagram", "out", name+ext), got.Bytes())
				if ext == ".dot" && dotErr == nil {
					cmd := exec.Command(dot, "-Tsvg")
					cmd.Stdin = bytes.NewReader(got.Bytes())
					if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("<svg")) {
						t.Errorf("graphviz does not render %s%s: %v\n%s", name, ext, err, out[:min(len(out), 500)])
					}
				}
			}
		})
	}
	if dotErr != nil {
		t.Logf("graphviz (dot) not on PATH: the DOT output was compared but not rendered; `bash hack/test-deps.sh graphviz` installs it")
	}
}

// hopBox is a Mermaid hop box: h<N>["...
var hopBox = regexp.MustCompile(`(?m)^\s+h\d+\["`)

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/trace -run TestDiagram -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (review, then -update):\n--- got\n%s", path, got)
	}
}

// TestDiagram_Example draws real traces on examples/ambient-dubbo and
// checks what a reader relies on: one box per listener, chain, route,
// cluster, endpoint and tunnel hop, in the order of the call, grouped by
// proxy, and the last box saying how the call ended (and why it stopped).
func TestDiagram_Example(t *testing.T) {
	res := renderExample(t)
	for _, tc := range []struct {
		to, method string
		last       string
	}{
		{"dubbo-provider:20880", "sayHello", `[["DELIVERED 10.244.2.12:20880`},
		{"dubbo-provider:20881", "", `[["STOPPED<br/>no filter chain of listener main_internal matches`},
	} {
		attrs := map[string]string{}
		if tc.method != "" {
			// dubbo_proxy picks its route table by the interface.
			attrs["interface"], attrs["method"] = "org.apache.dubbo.samples.basic.api.DemoService", tc.method
		}
		r := call(t, res, consumer, tc.to, attrs)
		var b bytes.Buffer
		if err := r.WriteMermaid(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		boxes := 0
		for _, h := range r.Hops {
			switch h.Step {
			case trace.StepListener, trace.StepChain, trace.StepRoute, trace.StepCluster, trace.StepEndpoint, trace.StepTunnel:
				boxes++
				if !strings.Contains(out, string(h.Step)+"<br/>"+h.Name) {
					t.Errorf("%s: no box for %s %s", tc.to, h.Step, h.Name)
				}
			}
		}
		if got := len(hopBox.FindAllString(out, -1)); got != boxes {
			t.Errorf("%s: %d hop boxes, want %d (one per drawn hop)", tc.to, got, boxes)
		}
		lastBox := ""
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `["`) && !strings.Contains(line, "subgraph") {
				lastBox = line
			}
		}
		if !strings.Contains(lastBox, tc.last) {
			t.Errorf("%s: last box %q, want %q", tc.to, lastBox, tc.last)
		}
		for _, p := range path(r) {
			if !strings.Contains(out, `["`+p+`"]`) {
				t.Errorf("%s: no group for proxy %s", tc.to, p)
			}
		}
	}
}
