#!/usr/bin/env bash
# Regenerates pkg/profile/data/*.yaml from local copies of the builds'
# sources (docs/profiles.md explains each input and where to get it):
#
#   ENVOY_BZL        upstream Envoy's source/extensions/extensions_build_config.bzl
#   ENVOY_COMMIT     the Envoy commit ENVOY_BZL was read at
#   ENVOY_DATE       its date
#   API_DIR          envoyproxy/data-plane-api (its envoy/ and contrib/ trees)
#   API_COMMIT       the data-plane-api commit API_DIR was read at
#   ISTIO_BZL        istio/proxy's bazel/extension_config/extensions_build_config.bzl
#   ISTIO_COMMIT     the istio/proxy commit, ISTIO_DATE its date
#   ISTIO_ENVOY      the Envoy commit of that istio/proxy (ENVOY_SHA in its WORKSPACE)
#   AERAKI_BZL       aeraki-mesh/meta-protocol-proxy's bazel/extension_config/extensions_build_config.bzl
#   AERAKI_COMMIT    the meta-protocol-proxy commit, AERAKI_DATE its date
#   AERAKI_ENVOY     the Envoy commit of that meta-protocol-proxy (ENVOY_SHA in its WORKSPACE)
#
# Run from the repository root; review the diff of pkg/profile/data.
set -euo pipefail
here=pkg/profile/internal/profilegen
in=$here/inputs
out=pkg/profile/data
gen() { go run ./$here "$@"; }
api="config types|github.com/envoyproxy/data-plane-api|envoy, contrib|$API_COMMIT||[#extension: <name>] tags of the API protos (see protos.go)"

gen -name envoy -o $out/envoy.yaml \
  -description "Upstream Envoy's default build (source/extensions/extensions_build_config.bzl; contrib extensions are not in it)." \
  -runs "waypoints aeraki serves over ADS" -runs "Envoy-based ztunnels aeraki serves over ADS" \
  -source "extension list|github.com/envoyproxy/envoy|source/extensions/extensions_build_config.bzl|$ENVOY_COMMIT|$ENVOY_DATE|EXTENSIONS; an entry marked Disabled by default is left out" \
  -source "$api" \
  -bzl "$ENVOY_BZL" -api "$API_DIR" -types $in/types.yaml -extra $in/envoy-builtin.yaml

gen -name istio-proxy -o $out/istio-proxy.yaml \
  -description "Istio's proxy (istio/proxy): Envoy with Istio's extension list, which has dubbo_proxy, thrift_proxy and redis_proxy but no generic_proxy." \
  -runs "Istio sidecars and gateways (aeraki's EnvoyFilters, through istiod)" -runs "istiod-managed waypoints" \
  -source "extension list|github.com/istio/proxy|bazel/extension_config/extensions_build_config.bzl|$ISTIO_COMMIT|$ISTIO_DATE|ENVOY_EXTENSIONS minus ISTIO_DISABLED_EXTENSIONS plus ISTIO_ENABLED_CONTRIB_EXTENSIONS" \
  -source "Envoy|github.com/envoyproxy/envoy||$ISTIO_ENVOY||ENVOY_SHA of istio/proxy's WORKSPACE at that commit" \
  -source "$api" \
  -bzl "$ISTIO_BZL" -api "$API_DIR" -types $in/types.yaml -extra $in/envoy-builtin.yaml -extra $in/istio-proxy.yaml

gen -name aeraki-meta-protocol-proxy -o $out/aeraki-meta-protocol-proxy.yaml \
  -description "Aeraki Mesh's meta-protocol proxy image: istio-proxy 1.21's extension list plus Aeraki's MetaProtocolProxy filter, its dubbo, thrift, brpc and trpc codecs and its filters." \
  -runs "sidecars of meshes that still run Aeraki's image (--sidecar-proxy aeraki-meta-protocol-proxy)" \
  -source "extension list|github.com/aeraki-mesh/meta-protocol-proxy|bazel/extension_config/extensions_build_config.bzl|$AERAKI_COMMIT|$AERAKI_DATE|istio/proxy 1.21.0's list, same shape as istio-proxy's" \
  -source "Aeraki extensions|github.com/aeraki-mesh/meta-protocol-proxy|BUILD, src/|$AERAKI_COMMIT|$AERAKI_DATE|see inputs/aeraki-meta-protocol-proxy.yaml" \
  -source "Envoy|github.com/envoyproxy/envoy||$AERAKI_ENVOY||ENVOY_SHA of meta-protocol-proxy's WORKSPACE" \
  -source "$api" \
  -bzl "$AERAKI_BZL" -api "$API_DIR" -types $in/types.yaml -extra $in/envoy-builtin.yaml -extra $in/aeraki-meta-protocol-proxy.yaml

gen -name grpc-go -o $out/grpc-go.yaml \
  -description "grpc-go's xDS client (proxyless gRPC): the listeners, HTTP filters, clusters and load balancers it accepts." \
  -runs "proxyless gRPC clients aeraki serves over ADS" \
  -source "extension list|github.com/grpc/grpc-go|internal/xds|v1.85.0||the registries listed in inputs/grpc-go.yaml" \
  -extra $in/grpc-go.yaml
