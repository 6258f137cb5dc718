package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
)

// RedisService configures the Redis proxy in front of a Redis host: routes by
// key prefix, traffic mirroring, fault injection and the password clients must
// present.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=rsvc,categories=redis-aeraki-io
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.host`,description="The destination hosts to which traffic is being sent"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether the service is valid and supported"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`,description="Why it is or is not accepted (kubectl describe shows the message)"
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`,description="Whether config built from the service is served to istiod and the proxies"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RedisService struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the proxy configuration.
	// +required
	Spec RedisServiceSpec `json:"spec"`

	// Status is written by the controller.
	// +optional
	Status conditions.Status `json:"status,omitempty,omitzero"`
}

// RedisServiceSpec configures the Redis proxy for some hosts.
type RedisServiceSpec struct {
	// Host lists the Redis services (fully qualified names) clients connect
	// to. The field is named "host" although it is a list, as in Aeraki.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Host []string `json:"host"`

	// Settings tune the proxy (timeouts, batching, read policy, client auth).
	// +optional
	Settings *RedisServiceSettings `json:"settings,omitempty"`

	// Redis lists the routes by key prefix; Envoy uses the longest matching
	// prefix, and a route without match is the catch-all. Optional: without
	// routes all keys go to the host itself (Aeraki's own demos omit it).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Redis []RedisRoute `json:"redis,omitempty"`

	// Faults lists the faults to inject: delays, and errors (which may also be
	// delayed).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Faults []RedisFault `json:"faults,omitempty"`
}

// ReadPolicy says which Redis nodes serve read commands.
// +kubebuilder:validation:Enum=MASTER;PREFER_MASTER;REPLICA;PREFER_REPLICA;ANY
type ReadPolicy string

// The ReadPolicy values, as in Aeraki (and Envoy's redis_proxy).
const (
	// ReadPolicyMaster reads from the primary only (the default).
	ReadPolicyMaster ReadPolicy = "MASTER"
	// ReadPolicyPreferMaster reads from the primary, or a replica when it is
	// unavailable.
	ReadPolicyPreferMaster ReadPolicy = "PREFER_MASTER"
	// ReadPolicyReplica reads from replicas only.
	ReadPolicyReplica ReadPolicy = "REPLICA"
	// ReadPolicyPreferReplica reads from a replica, or the primary when none
	// is available.
	ReadPolicyPreferReplica ReadPolicy = "PREFER_REPLICA"
	// ReadPolicyAny reads from any node.
	ReadPolicyAny ReadPolicy = "ANY"
)

// RedisServiceSettings tune the Redis proxy (Envoy's redis_proxy
// ConnPoolSettings) and the authentication clients must perform.
type RedisServiceSettings struct {
	// CaseInsensitive makes key-prefix matching ignore case.
	// +optional
	CaseInsensitive bool `json:"caseInsensitive,omitempty"`

	// OpTimeout bounds each operation, from when the first command of a
	// pipeline is written to the backend until a response arrives.
	// +optional
	OpTimeout duration.Duration `json:"opTimeout,omitempty"`

	// EnableCommandStats adds per-command statistics per upstream cluster.
	// +optional
	EnableCommandStats bool `json:"enableCommandStats,omitempty"`

	// MaxBufferSizeBeforeFlush batches requests: the encoded request buffer is
	// flushed upstream once it holds this many bytes. Unset, every request is
	// flushed at once.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxBufferSizeBeforeFlush int32 `json:"maxBufferSizeBeforeFlush,omitempty"`

	// BufferFlushTimeout flushes a batch this long after its first request
	// even when maxBufferSizeBeforeFlush is not reached (Envoy's default: 3ms).
	// +optional
	BufferFlushTimeout duration.Duration `json:"bufferFlushTimeout,omitempty"`

	// MaxUpstreamUnknownConnections caps the connections each worker opens to
	// hosts learnt from redirections (Envoy's default: 100).
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	MaxUpstreamUnknownConnections *int32 `json:"maxUpstreamUnknownConnections,omitempty"`

	// EnableHashtagging hashes only the {hash tag} part of keys, so keys with
	// the same tag go to the same upstream.
	// +optional
	EnableHashtagging bool `json:"enableHashtagging,omitempty"`

	// EnableRedirection follows MOVED and ASK redirections from upstream
	// servers.
	// +optional
	EnableRedirection bool `json:"enableRedirection,omitempty"`

	// ReadPolicy says which nodes serve reads; the primary by default.
	// +optional
	ReadPolicy ReadPolicy `json:"readPolicy,omitempty"`

	// Auth is the password clients must present (downstream auth).
	// +optional
	Auth *Auth `json:"auth,omitempty"`
}

// RedisRoute is a route by key prefix.
type RedisRoute struct {
	// Match selects keys; without it the route is the catch-all.
	// +optional
	Match *RedisRouteMatch `json:"match,omitempty"`

	// Route is where the matched keys are sent. A route without a destination
	// sends traffic nowhere, so it is required.
	// +required
	Route RedisDestinationRef `json:"route"`

	// Mirror sends copies of the matched commands to other destinations.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Mirror []RedisMirror `json:"mirror,omitempty"`
}

// RedisRouteMatch selects the keys a route applies to.
type RedisRouteMatch struct {
	// Key matches on the key's prefix.
	// +optional
	Key *KeyMatch `json:"key,omitempty"`
}

// KeyMatch matches Redis keys by prefix.
type KeyMatch struct {
	// Prefix must match the beginning of the key; the longest matching prefix
	// wins.
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// RemovePrefix strips the prefix from the key before forwarding it.
	// +optional
	RemovePrefix bool `json:"removePrefix,omitempty"`
}

// RedisDestinationRef names the Redis service commands are sent to.
type RedisDestinationRef struct {
	// Host is the Redis service's name in the service registry.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// Port selects the service port when it has several.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// RedisMirror sends copies of commands to another Redis service.
type RedisMirror struct {
	// Route is where the copies go.
	// +required
	Route RedisDestinationRef `json:"route"`

	// Percentage is the share of commands mirrored; all of them when absent.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`

	// ExcludeReadCommands mirrors only write commands.
	// +optional
	ExcludeReadCommands bool `json:"excludeReadCommands,omitempty"`
}

// Percent is a percentage in the range [0.0, 100.0].
type Percent struct {
	// Value is the percentage, from 0 to 100; fractions are allowed.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Value float64 `json:"value"`
}

// FaultType is the kind of a Redis fault.
// +kubebuilder:validation:Enum=DELAY;ERROR
type FaultType string

// The FaultType values, as in Aeraki.
const (
	// FaultTypeDelay delays commands (the default). Other faults can carry a
	// delay too.
	FaultTypeDelay FaultType = "DELAY"
	// FaultTypeError answers commands with an error.
	FaultTypeError FaultType = "ERROR"
)

// RedisFault is a fault injected into Redis commands.
type RedisFault struct {
	// Type is the kind of fault; DELAY when absent.
	// +optional
	Type FaultType `json:"type,omitempty"`

	// Percentage is the share of commands the fault applies to.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`

	// Delay is added to the affected commands; none when absent.
	// +optional
	Delay duration.Duration `json:"delay,omitempty"`

	// Commands restricts the fault to these commands; when absent it applies
	// to all but AUTH and PING.
	// +optional
	Commands []string `json:"commands,omitempty"`
}

// RedisServiceList is a list of RedisServices.
//
// +kubebuilder:object:root=true
type RedisServiceList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the listed RedisServices.
	Items []RedisService `json:"items"`
}
