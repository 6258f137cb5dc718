package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
)

// AwesomeRPCPolicy sets how long AwesomeRPC calls to some services may
// take. The plugin applies its timeout to every route it builds for those
// services that has no timeout of its own (a MetaRouter route's timeout
// wins). aeraki writes Accepted, ResolvedRefs and Programmed conditions
// on it like on its own kinds.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=arpcp,categories=awesomerpc
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.hosts`,description="The AwesomeRPC services the policy applies to"
// +kubebuilder:printcolumn:name="Timeout",type=string,JSONPath=`.spec.timeout`,description="How long a call may take"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether the policy is valid and names AwesomeRPC services"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`,description="Why it is or is not accepted (kubectl describe shows the message)"
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`,description="Whether config built from the policy is served to istiod and the proxies"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AwesomeRPCPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the policy asks for.
	// +required
	Spec AwesomeRPCPolicySpec `json:"spec"`

	// Status is written by aeraki.
	// +optional
	Status conditions.Status `json:"status,omitempty,omitzero"`
}

// AwesomeRPCPolicySpec names the services and the settings for them.
type AwesomeRPCPolicySpec struct {
	// Hosts are the services the policy applies to, as names in the
	// service registry: "greeter" (in the policy's namespace),
	// "greeter.demo" or "greeter.demo.svc.cluster.local". Each must have
	// an AwesomeRPC port (named tcp-awesomerpc, or with appProtocol
	// awesomerpc), or the policy is not accepted.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Hosts []string `json:"hosts"`

	// Timeout bounds each call, from the end of the request to the end of
	// the response, such as "1.5s" or "250ms"; "0s" lets calls take as
	// long as they take. Without a policy, Envoy's generic_proxy gives
	// calls no timeout either (aeraki sets 0s, not Envoy's default 15s).
	// +required
	Timeout duration.Duration `json:"timeout"`
}

// AwesomeRPCPolicyList is a list of AwesomeRPCPolicies.
//
// +kubebuilder:object:root=true
type AwesomeRPCPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the policies.
	Items []AwesomeRPCPolicy `json:"items"`
}
