// Package kube is the Kubernetes source of `aeraki serve`: it watches an API
// server with controller-runtime informers and delivers a model.Snapshot
// after every settled change, exactly as the file source does for a
// directory. Nothing after the source can tell the two apart: both fill a
// model.Builder with typed objects whose GroupVersionKind is set.
//
// # What is watched
//
// Every kind the model reads, from its descriptor (model.CoreKinds and the
// plugins' kinds in model.Options.Kinds): Services, EndpointSlices, Pods,
// Namespaces and Secrets; Istio's ServiceEntry, WorkloadEntry,
// DestinationRule and VirtualService (networking.istio.io/v1); Gateway API
// Gateways and GatewayClasses (gateway.networking.k8s.io/v1); aeraki's
// MetaRouter and ApplicationProtocol; and whatever kinds the plugins of
// the build bring (with the builtins, Redis's and Dubbo's policies). All
// are watched cluster-wide, because a MetaRouter in one namespace may
// route to a Service in any other.
//
// A kind whose CRD is not installed (Gateway API is often absent) is left
// out with one log line, and looked for again every RecheckInterval: when it
// appears it is watched from then on, without a restart.
//
// # Least privilege
//
// The source only reads (get, list, watch). Before watching a kind it asks
// the API server (SelfSubjectAccessReview, which every authenticated user
// may do) whether it may list and watch it cluster-wide, so a missing RBAC
// rule is one clear error rather than an informer retrying forever:
//
//   - Secrets are optional. They are the most sensitive thing aeraki could
//     read and only Redis auth uses them, so the chart grants them in a
//     separate ClusterRole only with rbac.redisSecrets=true (in
//     examples/install: optional/), which an operator enables only when
//     needed. Without it the source logs once
//     and runs without Secrets, and plugins that look one up find none
//     (and report the reference as missing). Service account tokens and
//     Helm release Secrets are never cached (a field selector on type),
//     which keeps both the exposure and the memory down.
//   - Every other kind is required once its CRD is installed: the mesh
//     cannot be described without it, and serving config built from a
//     partial view would delete what istiod has. Run returns an error that
//     names the kind and the rule to add.
//
// # Events and debouncing
//
// Informer events only mark the source dirty. After Debounce of quiet
// (at most 10 Debounce periods, and at least a second, into a busy
// stream) the source lists every watched kind from the cache (no copies:
// cached objects are never modified), builds a Snapshot, and delivers it
// unless every object has the revision it had in the previous one, which
// is what happens after aeraki's own status writes and after Pod churn the
// model does not read. When the consumer is slow only the newest snapshot
// waits to be delivered.
//
// The cache strips managedFields and the last-applied-configuration
// annotation from every object: the model reads neither and they are the
// largest part of most objects. Pods, EndpointSlices and Services, which
// only the model reads, keep only the fields it reads (model.Kind.Trim),
// and objects whose labels (or subsets' labels, or routes' attribute
// matches) have the same content share one map: the cache and the
// snapshots hold every object for the life of the process, and all of it
// is memory every garbage collection scans.
package kube
