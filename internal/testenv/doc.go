// Package testenv starts the real peers that Aeraki's integration tests talk
// to: an envtest control plane (etcd + kube-apiserver) and a real istiod
// (pilot-discovery) that reads config from Aeraki over MCP (xDS-over-MCP,
// meshConfig.configSources "xds://...").
//
// Why it exists: Aeraki's job is to feed istiod configuration that istiod then
// turns into Envoy listeners. Whether that works depends on details of the
// pinned istiod (which type URLs it subscribes to, how it unwraps MCP
// resources, how it names listeners and applies EnvoyFilter patches; see
// ISTIOD.md in this directory). Those details can only be checked against the
// real binaries, so tests start them instead of faking them.
//
// The binaries are not downloaded at test time. `make test` runs
// hack/test-deps.sh, which installs etcd (Debian etcd-server) and builds
// kube-apiserver, kubectl, pilot-discovery and helm from the pinned tool
// modules in tools/ into the git-ignored <repo>/.cache/bin. When they are missing the
// Require*/Start* helpers skip the test and say to run `make test`.
//
// Everything listens on 127.0.0.1 only, on ports picked at run time, so
// several tests (and packages) can run in parallel on one machine.
//
// The Istio CRDs (ServiceEntry, EnvoyFilter, ...) for the pinned Istio are
// committed under testdata/istio-crds; pass IstioCRDDir() to StartKube when a
// test needs istiod to read Istio config from the API server (k8s://).
package testenv
