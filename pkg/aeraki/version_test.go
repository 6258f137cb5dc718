package aeraki

import (
	"bytes"
	"context"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The version a plain `go build` reports is the version of this tree, which
// the chart (appVersion, and so the default image tag) and the Makefile's
// default VERSION take from charts/aeraki/Chart.yaml.
func TestVersionMatchesChart(t *testing.T) {
	b, err := os.ReadFile("../../charts/aeraki/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?`).FindSubmatch(b)
	if m == nil {
		t.Fatal("charts/aeraki/Chart.yaml has no appVersion")
	}
	if string(m[1]) != version {
		t.Errorf("pkg/aeraki's default version %q, the chart's appVersion %q: bump them together", version, m[1])
	}
}

func TestVersionCommand_PrintsStamps(t *testing.T) {
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"version"}, &out, &out, builtin.Plugins()...); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != "aeraki "+Version() || lines[1] != "revision "+Revision() {
		t.Errorf("aeraki version printed\n%s", out.String())
	}
	if Revision() == "" {
		t.Error("Revision() is empty; want the stamp, the VCS revision or \"unknown\"")
	}
}
