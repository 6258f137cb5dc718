package dubbo_test

import (
	"testing"

	"github.com/aeraki-ng/aeraki/internal/golden"
	"github.com/aeraki-ng/aeraki/internal/plugingolden"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// TestAuthorizationGolden renders DubboAuthorizationPolicy cases: the
// sidecar's inbound EnvoyFilter (RBAC in front of generic_proxy, deny
// routes at the head of its table) and the waypoint role's chain, compared
// with testdata/authz/out.
func TestAuthorizationGolden(t *testing.T) {
	golden.Run(t, "testdata/authz", func(t *testing.T, in string) string {
		p, err := dubbo.New(dubbo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		reg := plugingolden.Registry(t, in, p)
		return plugingolden.Render(t, in, reg, dubbo.Name, false)
	})
}
