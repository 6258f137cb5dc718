//go:build tools

// Package tools pins the Istio command built by hack/test-deps.sh.
package tools

import (
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
