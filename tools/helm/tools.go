//go:build tools

// Package tools pins the Helm command built by hack/test-deps.sh, which the
// chart tests (helm lint, helm template, helm install) run.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
