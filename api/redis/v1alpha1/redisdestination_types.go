package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
)

// RedisDestination configures how the proxy talks to a Redis backend: the
// credentials it presents, whether the backend is a Redis Cluster, and the
// TCP connection pool.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=rd,categories=redis-aeraki-io
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.host`,description="The name of a service from the service registry"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether the destination is valid and its references resolved"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`,description="Why it is or is not accepted (kubectl describe shows the message)"
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`,description="Whether config built from the destination is served to istiod and the proxies"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RedisDestination struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the backend policies.
	// +required
	Spec RedisDestinationSpec `json:"spec"`

	// Status is written by the controller.
	// +optional
	Status conditions.Status `json:"status,omitempty,omitzero"`
}

// RedisDestinationSpec holds the policies for traffic to one Redis service.
type RedisDestinationSpec struct {
	// Host is the Redis service the policies apply to, as a name in the
	// service registry. Without it the object applies to nothing.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// TrafficPolicy holds the connection settings.
	// +optional
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
}

// TrafficPolicy holds the policies applied to connections to the backend.
type TrafficPolicy struct {
	// ConnectionPool configures the connections to each backend host.
	// +optional
	ConnectionPool *ConnectionPoolSettings `json:"connectionPool,omitempty"`
}

// ConnectionPoolSettings configure the connections to each host of the
// backend service.
type ConnectionPoolSettings struct {
	// TCP holds TCP-level settings, as in Istio's DestinationRule.
	// +optional
	TCP *TCPSettings `json:"tcp,omitempty"`

	// Redis holds Redis-level settings: auth, mode, discovery.
	// +optional
	Redis *RedisSettings `json:"redis,omitempty"`
}

// RedisMode says how the backend is organised.
// +kubebuilder:validation:Enum=PROXY;CLUSTER
type RedisMode string

// The RedisMode values, as in Aeraki.
const (
	// RedisModeProxy treats the backend as independent servers the proxy
	// shards keys over (the default).
	RedisModeProxy RedisMode = "PROXY"
	// RedisModeCluster treats the backend as a Redis Cluster whose topology
	// the proxy discovers.
	RedisModeCluster RedisMode = "CLUSTER"
)

// RedisSettings are the Redis-level settings of the connections to the
// backend.
type RedisSettings struct {
	// Mode says whether the backend is a Redis Cluster; PROXY when absent.
	// +optional
	Mode RedisMode `json:"mode,omitempty"`

	// Auth is the credentials the proxy presents to the backend (upstream
	// auth).
	// +optional
	Auth *Auth `json:"auth,omitempty"`

	// DiscoveryEndpoints are addresses the proxy asks for the cluster
	// topology in CLUSTER mode, instead of the service's own endpoints.
	// +optional
	DiscoveryEndpoints []string `json:"discoveryEndpoints,omitempty"`
}

// Auth says where Redis credentials come from: a Secret or plain text. At most
// one of the two may be set (Aeraki's oneof); neither means no auth.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.secret) && has(self.plain))",message="auth may set secret or plain, not both"
type Auth struct {
	// Secret reads the credentials from a Secret in the object's namespace.
	// +optional
	Secret *SecretReference `json:"secret,omitempty"`

	// Plain holds the credentials in the object itself.
	// +optional
	Plain *PlainAuth `json:"plain,omitempty"`
}

// SecretReference names a Secret in the object's namespace holding Redis
// credentials.
type SecretReference struct {
	// Name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// PasswordField is the Secret's data key holding the password;
	// "password" when absent.
	// +optional
	PasswordField string `json:"passwordField,omitempty"`

	// UsernameField is the Secret's data key holding the username (Redis 6
	// ACL); "username" when absent.
	// +optional
	UsernameField string `json:"usernameField,omitempty"`
}

// PlainAuth holds Redis credentials in plain text.
type PlainAuth struct {
	// Password is the Redis password.
	// +required
	Password string `json:"password"`

	// Username is the Redis 6 ACL user; none when absent.
	// +optional
	Username string `json:"username,omitempty"`
}

// TCPSettings are the TCP-level settings of connections to the backend, the
// subset of Istio's ConnectionPoolSettings.TCPSettings Aeraki exposes.
type TCPSettings struct {
	// ConnectTimeout bounds establishing a TCP connection.
	// +optional
	ConnectTimeout duration.Duration `json:"connectTimeout,omitempty"`

	// MaxConnections caps the connections to one backend host.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxConnections int32 `json:"maxConnections,omitempty"`

	// TCPKeepalive turns on SO_KEEPALIVE on the connections.
	// +optional
	TCPKeepalive *TCPKeepalive `json:"tcpKeepalive,omitempty"`
}

// TCPKeepalive configures TCP keepalive probes.
type TCPKeepalive struct {
	// Probes is the number of unanswered probes before the connection is
	// dropped; the OS default when absent.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Probes int32 `json:"probes,omitempty"`

	// Time is the idle time before the first probe; the OS default when
	// absent. At most 4294967295s, what Envoy's uint32 of seconds holds.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('4294967295s')",message="time must be at most 4294967295s"
	Time duration.Duration `json:"time,omitempty"`

	// Interval is the time between probes; the OS default when absent.
	// At most 4294967295s, what Envoy's uint32 of seconds holds.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('4294967295s')",message="interval must be at most 4294967295s"
	Interval duration.Duration `json:"interval,omitempty"`
}

// RedisDestinationList is a list of RedisDestinations.
//
// +kubebuilder:object:root=true
type RedisDestinationList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the listed RedisDestinations.
	Items []RedisDestination `json:"items"`
}
