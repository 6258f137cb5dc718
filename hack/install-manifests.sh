#!/usr/bin/env bash
# Writes the plain manifests of examples/install from the Helm chart's
# defaults, so the two cannot drift: one file per chart template, as
# `helm template aeraki charts/aeraki --namespace istio-system` renders it,
# and optional/secrets-reader.yaml with rbac.redisSecrets=true. The CRDs are
# not included (apply crd/ first, as the README says).
#
# Usage: bash hack/install-manifests.sh [DIR]   (default examples/install)
#        HELM=/path/to/helm to use another helm than .cache/bin/helm
# `make install-manifests` runs it; internal/install's test runs it into a
# temporary directory and compares.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELM="${HELM:-$ROOT/.cache/bin/helm}"
OUT="${1:-$ROOT/examples/install}"
[[ -x "$HELM" ]] || { echo "install-manifests: no helm at $HELM; run: bash hack/test-deps.sh helm" >&2; exit 1; }

# render TEMPLATE FILE [HELM ARGS]: one template, without helm's "# Source"
# lines and the blank line before each document separator.
render() {
	local tpl="$1" file="$2"
	shift 2
	mkdir -p "$(dirname "$OUT/$file")"
	{
		printf '# Generated from charts/aeraki/%s by `make install-manifests`\n' "$tpl"
		printf '# (helm template aeraki charts/aeraki --namespace istio-system%s): edit the chart.\n' "${*:+ $*}"
		"$HELM" template aeraki "$ROOT/charts/aeraki" --namespace istio-system --show-only "$tpl" "$@" |
			awk '
				/^# Source: / { next }
				/^$/ { blank++; next }
				/^---$/ { if (NR > 1 && printed) print "---"; blank = 0; next }
				{ while (blank > 0) { print ""; blank-- } print; printed = 1 }
			'
	} >"$OUT/$file"
}

render templates/serviceaccount.yaml serviceaccount.yaml
render templates/rbac.yaml rbac.yaml
render templates/deployment.yaml deployment.yaml
render templates/poddisruptionbudget.yaml poddisruptionbudget.yaml
render templates/service.yaml service.yaml
render templates/secrets-reader.yaml optional/secrets-reader.yaml --set rbac.redisSecrets=true
