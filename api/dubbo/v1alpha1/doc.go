// Package v1alpha1 holds the dubbo.aeraki.io/v1alpha1 API:
// DubboAuthorizationPolicy, access control on Dubbo services by caller
// identity and by interface and method.
//
// The kind, fields and JSON names are those of Aeraki Mesh, so existing
// Aeraki manifests apply unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=dubbo.aeraki.io
// +versionName=v1alpha1
package v1alpha1
