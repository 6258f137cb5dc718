// Package v1alpha1 holds the awesomerpc.example.com/v1alpha1 API of the
// example plugin: AwesomeRPCPolicy, the per-service settings the plugin
// applies to AwesomeRPC calls (today, how long a call may take).
//
// It shows a plugin bringing its own CRD: the Go types carry kubebuilder
// markers, and `make generate` in the example's directory writes
// zz_generated.deepcopy.go and crd/ from them with controller-gen, the
// way aeraki generates its own API (generate_test.go fails when the
// committed files are stale).
//
// +kubebuilder:object:generate=true
// +groupName=awesomerpc.example.com
// +versionName=v1alpha1
package v1alpha1
