// Package v1alpha1 holds the redis.aeraki.io/v1alpha1 API: RedisService,
// which configures how clients' Redis traffic to a host is proxied (key-prefix
// routes, mirroring, fault injection, client auth), and RedisDestination,
// which configures how the proxy talks to a Redis backend (auth, cluster mode,
// connection pool).
//
// The kinds, fields and JSON names are those of Aeraki Mesh, so existing
// Aeraki manifests apply unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=redis.aeraki.io
// +versionName=v1alpha1
package v1alpha1
