//go:build tools

// Package tools pins sigs.k8s.io/controller-tools, which generates the CRD
// YAML in crd/ and the deepcopy functions in api/. It lives in its own module
// so the generator's dependencies never leak into the aeraki binary's module.
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
