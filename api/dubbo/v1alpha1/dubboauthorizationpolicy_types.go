package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
)

// DubboAuthorizationPolicy enables access control on Dubbo services. It
// applies to the Dubbo services of its namespace, or of the whole mesh when it
// is in the root namespace.
//
// DENY policies are evaluated first: a request matching any DENY policy is
// denied. Then, if the workload has no ALLOW policy the request is allowed;
// otherwise it is allowed only if an ALLOW policy matches.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,path=dubboauthorizationpolicies,shortName=dap,categories={aeraki-io,dubbo-aeraki-io}
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`,description="ALLOW or DENY"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether the policy is valid and supported"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`,description="Why it is or is not accepted (kubectl describe shows the message)"
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`,description="Whether config built from the policy is served to istiod and the proxies"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DubboAuthorizationPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the rules and the action. As in Aeraki it may be empty: an
	// ALLOW policy with no rules matches nothing, so it denies everything.
	// +optional
	Spec DubboAuthorizationPolicySpec `json:"spec,omitempty,omitzero"`

	// Status is written by the controller.
	// +optional
	Status conditions.Status `json:"status,omitempty,omitzero"`
}

// Action is what a DubboAuthorizationPolicy does to the requests its rules
// match.
// +kubebuilder:validation:Enum=ALLOW;DENY
type Action string

// The Action values, as in Aeraki.
const (
	// ActionAllow allows a request only if it matches the rules (the
	// default).
	ActionAllow Action = "ALLOW"
	// ActionDeny denies a request if it matches any of the rules.
	ActionDeny Action = "DENY"
)

// DubboAuthorizationPolicySpec holds the rules of a policy and the action
// taken when they match.
type DubboAuthorizationPolicySpec struct {
	// Rules match requests; a request matches the policy when at least one
	// rule matches it. With no rules the policy matches nothing.
	// +optional
	Rules []Rule `json:"rules,omitempty"`

	// Action is taken when a rule matches; ALLOW when absent.
	// +optional
	Action Action `json:"action,omitempty"`
}

// Rule matches requests from a list of sources performing a list of
// operations; it matches when one source and one operation match. An empty
// rule matches every request.
//
// String fields support exact ("abc"), prefix ("abc*"), suffix ("*abc") and
// presence ("*") matches.
type Rule struct {
	// From lists the allowed sources; any source when absent.
	// +optional
	From []RuleFrom `json:"from,omitempty"`

	// To lists the allowed operations; any operation when absent.
	// +optional
	To []RuleTo `json:"to,omitempty"`
}

// RuleFrom wraps a source, as in Aeraki (and Istio's AuthorizationPolicy).
type RuleFrom struct {
	// Source is the caller identity to match.
	// +optional
	Source *Source `json:"source,omitempty"`
}

// RuleTo wraps an operation, as in Aeraki (and Istio's AuthorizationPolicy).
type RuleTo struct {
	// Operation is the Dubbo call to match.
	// +optional
	Operation *Operation `json:"operation,omitempty"`
}

// Source matches the caller's identity. Its fields are ANDed; the values of a
// field are ORed. Matching identities requires mTLS.
type Source struct {
	// Principals are the caller identities (service accounts, e.g.
	// "cluster.local/ns/dubbo/sa/dubbo-consumer") to match; any when absent.
	// +optional
	Principals []string `json:"principals,omitempty"`

	// NotPrincipals are caller identities that must not match.
	// +optional
	NotPrincipals []string `json:"notPrincipals,omitempty"`

	// Namespaces are the caller namespaces to match; any when absent.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// NotNamespaces are caller namespaces that must not match.
	// +optional
	NotNamespaces []string `json:"notNamespaces,omitempty"`
}

// Operation matches the Dubbo call. Its fields are ANDed; the values of a
// field are ORed.
type Operation struct {
	// Interfaces are the Dubbo interfaces to match; any when absent.
	// +optional
	Interfaces []string `json:"interfaces,omitempty"`

	// NotInterfaces are Dubbo interfaces that must not match.
	// +optional
	NotInterfaces []string `json:"notInterfaces,omitempty"`

	// Methods are the Dubbo methods to match; any when absent.
	// +optional
	Methods []string `json:"methods,omitempty"`

	// NotMethods are Dubbo methods that must not match.
	// +optional
	NotMethods []string `json:"notMethods,omitempty"`
}

// DubboAuthorizationPolicyList is a list of DubboAuthorizationPolicies.
//
// +kubebuilder:object:root=true
type DubboAuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the listed DubboAuthorizationPolicies.
	Items []DubboAuthorizationPolicy `json:"items"`
}
