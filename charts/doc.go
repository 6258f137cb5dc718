// Package charts holds aeraki's Helm chart (charts/aeraki) and, in its
// tests, the evidence that it installs: helm lint and helm template with the
// pinned Helm, a server-side dry run and a real helm install on a real
// kube-apiserver, the ServiceAccount's rights checked with kubectl auth
// can-i, the chart's CRDs equal to crd/, and examples/install equal to what
// the chart renders by default. There is no Go code here to import.
package charts
