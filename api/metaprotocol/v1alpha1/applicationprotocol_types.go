package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
)

// ApplicationProtocol declares an application protocol built on top of
// MetaProtocol and the codec that parses it. Service ports named
// "tcp-metaprotocol-<protocol>-..." are then handled as that protocol, and
// MetaRouters for them route on the attributes the codec extracts.
//
// It is cluster-scoped, as in Aeraki: a protocol name means the same thing in
// every namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories={aeraki-io,metaprotocol-aeraki-io}
// +kubebuilder:printcolumn:name="Protocol",type=string,JSONPath=`.spec.protocol`,description="The application protocol name"
// +kubebuilder:printcolumn:name="Codec",type=string,JSONPath=`.spec.codec`,description="The codec that parses the protocol"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether the protocol is valid and supported"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`,description="Why it is or is not accepted (kubectl describe shows the message)"
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`,description="Whether config built from the protocol is served to istiod and the proxies"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ApplicationProtocol struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; the name is conventionally the protocol name.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the protocol and its codec.
	// +required
	Spec ApplicationProtocolSpec `json:"spec"`

	// Status is written by the controller.
	// +optional
	Status conditions.Status `json:"status,omitempty,omitzero"`
}

// ApplicationProtocolSpec defines an application protocol built on top of
// MetaProtocol.
type ApplicationProtocolSpec struct {
	// Protocol is the protocol's name, as used in service port names
	// ("tcp-metaprotocol-<protocol>-...") and appProtocol values.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Protocol string `json:"protocol"`

	// Codec is the name of the codec extension that decodes and encodes the
	// protocol's messages, e.g. "aeraki.meta_protocol.codec.dubbo". Without it
	// the proxy cannot parse the traffic, so it is required.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Codec string `json:"codec"`
}

// ApplicationProtocolList is a list of ApplicationProtocols.
//
// +kubebuilder:object:root=true
type ApplicationProtocolList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the listed ApplicationProtocols.
	Items []ApplicationProtocol `json:"items"`
}
