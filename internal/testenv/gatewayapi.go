package testenv

import "path/filepath"

// GatewayAPIVersion is the Gateway API release whose standard-channel
// Gateway and GatewayClass CRDs are committed under
// testdata/gateway-api-crds: the version pinned in go.mod.
const GatewayAPIVersion = "v1.5.1"

// GatewayAPICRDDir returns the directory with the Gateway and GatewayClass
// CRDs of GatewayAPIVersion (copied from the module's
// config/crd/standard), for tests that need waypoints in the API server or
// that install Gateway API after aeraki started.
func GatewayAPICRDDir() string {
	root, err := RepoRoot()
	if err != nil {
		return filepath.Join("testdata", "gateway-api-crds")
	}
	return filepath.Join(root, "internal", "testenv", "testdata", "gateway-api-crds")
}
