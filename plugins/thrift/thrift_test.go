package thrift_test

import (
	"testing"

	"github.com/aeraki-ng/aeraki/internal/golden"
	"github.com/aeraki-ng/aeraki/internal/plugingolden"
	"github.com/aeraki-ng/aeraki/plugins/thrift"
)

// TestGolden renders every testdata/in case with the Thrift plugin: the
// diagnostics, the sidecar EnvoyFilters (outbound and inbound), and the
// waypoint role's filters, compared with testdata/out.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", func(t *testing.T, in string) string {
		reg := plugingolden.Registry(t, in, thrift.New())
		return plugingolden.Render(t, in, reg, thrift.Name, false)
	})
}
