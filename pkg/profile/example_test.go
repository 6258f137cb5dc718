package profile_test

import (
	"fmt"

	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// A plugin picks its filter by what the proxy it builds for has.
func Example() {
	for _, name := range []string{profile.IstioProxy, profile.Envoy} {
		p := profile.MustGet(name)
		filter := "envoy.filters.network.dubbo_proxy"
		if p.Has("envoy.filters.network.generic_proxy") {
			filter = "envoy.filters.network.generic_proxy"
		}
		fmt.Println(p, "->", filter)
	}
	fmt.Println(profile.Builtin().Carriers("envoy.filters.network.generic_proxy", ""))
	// Output:
	// istio-proxy -> envoy.filters.network.dubbo_proxy
	// envoy -> envoy.filters.network.generic_proxy
	// [envoy]
}
