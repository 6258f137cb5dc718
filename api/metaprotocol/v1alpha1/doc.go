// Package v1alpha1 holds the metaprotocol.aeraki.io/v1alpha1 API: MetaRouter,
// which routes requests of any MetaProtocol-based protocol (Dubbo, Thrift,
// tRPC, ...) by their attributes, and ApplicationProtocol, which declares such
// a protocol and its codec.
//
// The kinds, fields and JSON names are those of Aeraki Mesh, so existing
// Aeraki manifests apply unchanged. MetaRoute adds timeout, retries and fault,
// which Aeraki users asked for.
//
// +kubebuilder:object:generate=true
// +groupName=metaprotocol.aeraki.io
// +versionName=v1alpha1
package v1alpha1
