package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of AwesomeRPCPolicy: the plugin's own, so it
// never collides with aeraki's groups or another plugin's.
const GroupName = "awesomerpc.example.com"

// SchemeGroupVersion is the group and version the types of this package
// are registered under.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

var (
	// SchemeBuilder collects the functions that add this package's types
	// to a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme registers AwesomeRPCPolicy and its list with a scheme,
	// for aeraki's Kubernetes client and cache (model.Kind.AddToScheme).
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &AwesomeRPCPolicy{}, &AwesomeRPCPolicyList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
