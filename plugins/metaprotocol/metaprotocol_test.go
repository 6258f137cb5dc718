package metaprotocol_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/golden"
	"github.com/aeraki-ng/aeraki/internal/plugingolden"
	"github.com/aeraki-ng/aeraki/plugins/metaprotocol"
)

// TestGolden renders every testdata/in case (options from its
// "# plugin-options:" line) with the metaprotocol plugin, sidecar and
// waypoint roles, compared with testdata/out.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", func(t *testing.T, in string) string {
		reg := plugingolden.Registry(t, in, metaprotocol.New(metaprotocol.Options{}))
		return plugingolden.Render(t, in, reg, metaprotocol.Name, false)
	})
}

// TestConfigureSaysWhatReplacedAerakiProxy: the aeraki-proxy option is
// now the proxy build; the plugin says so instead of ignoring it.
func TestConfigureSaysWhatReplacedAerakiProxy(t *testing.T) {
	p := metaprotocol.New(metaprotocol.Options{})
	if err := p.Configure(map[string]string{"aeraki-proxy": "true"}); err == nil || !strings.Contains(err.Error(), "--sidecar-proxy aeraki-meta-protocol-proxy") {
		t.Fatalf("want an error naming the profile flag, got %v", err)
	}
	if err := p.Configure(map[string]string{"colour": "blue"}); err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Fatalf("want an error saying there are no options, got %v", err)
	}
}
