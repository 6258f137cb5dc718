package conditions

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types. Each object gets all three once the controller has seen it,
// so "missing" never has to be told apart from "false".
const (
	// TypeAccepted says whether the object's spec is valid and supported: the
	// schema admitted it, and the plugin for its protocol understood every field.
	// False means the object is ignored as a whole and proxies keep their last
	// good configuration.
	TypeAccepted = "Accepted"

	// TypeResolvedRefs says whether everything the object names exists: hosts,
	// DestinationRule subsets, Secrets, ApplicationProtocols. False does not
	// always mean nothing is programmed; routes that do resolve still are.
	TypeResolvedRefs = "ResolvedRefs"

	// TypeProgrammed says whether configuration generated from the object has
	// been handed to the proxies it targets (pushed over xDS or written as an
	// EnvoyFilter for istiod).
	TypeProgrammed = "Programmed"
)

// Condition reasons. A reason is a CamelCase word a machine can switch on; the
// condition's message carries the human detail (which host, which route).
const (
	// ReasonAccepted is the reason of Accepted=True.
	ReasonAccepted = "Accepted"

	// ReasonResolvedRefs is the reason of ResolvedRefs=True.
	ReasonResolvedRefs = "ResolvedRefs"

	// ReasonProgrammed is the reason of Programmed=True.
	ReasonProgrammed = "Programmed"

	// ReasonInvalid is the reason of Programmed=False for an object that was
	// not accepted: nothing is built from it (the Accepted condition says why).
	ReasonInvalid = "Invalid"

	// ReasonPending is used while the controller has not finished with the
	// object yet (for example Programmed=False before the first push).
	ReasonPending = "Pending"

	// ReasonHostNotFound means a host in spec (or a route destination) matches
	// no Service or ServiceEntry known to the mesh.
	ReasonHostNotFound = "HostNotFound"

	// ReasonSubsetNotFound means a destination names a subset that no
	// DestinationRule for its host defines.
	ReasonSubsetNotFound = "SubsetNotFound"

	// ReasonRefNotFound means another referenced object (a Secret, an
	// ApplicationProtocol, a rate limit service) does not exist.
	ReasonRefNotFound = "RefNotFound"

	// ReasonUnsupportedProtocol means the host's port protocol has no plugin,
	// or the plugin for it cannot carry this kind of object.
	ReasonUnsupportedProtocol = "UnsupportedProtocol"

	// ReasonInvalidRoute means a route is well-formed for the schema but cannot
	// be turned into proxy configuration (for example a regex RE2 rejects).
	ReasonInvalidRoute = "InvalidRoute"

	// ReasonUnsupportedValue means a field holds a value the schema allows but
	// the selected data plane cannot express (for example a fault status the
	// protocol has no equivalent for).
	ReasonUnsupportedValue = "UnsupportedValue"
)

// Status is the status subresource shared by every aeraki custom resource.
// Only the controller writes it; users never set it.
type Status struct {
	// Conditions describe the latest observations of the object's state:
	// Accepted, ResolvedRefs and Programmed. There is at most one condition of
	// each type.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// ObservedGeneration is the metadata.generation the conditions were
	// computed from, so a reader can tell a stale status from a current one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// SetCondition adds cond, or replaces the condition of the same type. The
// transition time only moves when the status value changes. It reports whether
// anything changed, so callers can skip a no-op status write.
func (s *Status) SetCondition(cond metav1.Condition) bool {
	return apimeta.SetStatusCondition(&s.Conditions, cond)
}

// Condition returns the condition of the given type, or nil when absent.
func (s *Status) Condition(conditionType string) *metav1.Condition {
	return apimeta.FindStatusCondition(s.Conditions, conditionType)
}

// IsTrue reports whether the condition of the given type is present and True.
func (s *Status) IsTrue(conditionType string) bool {
	return apimeta.IsStatusConditionTrue(s.Conditions, conditionType)
}
