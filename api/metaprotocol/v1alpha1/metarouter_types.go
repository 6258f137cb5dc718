package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
)

// MetaRouter defines route policies for the MetaProtocol proxy of a service:
// attribute-based routes ("method == sayHello -> subset v2"), traffic
// splitting, mirroring, header (attribute) mutation, local and global rate
// limits, and, beyond Aeraki, timeouts, retries and fault injection.
//
// Only one MetaRouter should target a host. MetaRouter is mesh-scoped as in
// Aeraki: whatever namespace it lives in, it applies to the services in hosts
// (subject to exportTo).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={aeraki-io,metaprotocol-aeraki-io}
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.hosts`,description="The destination hosts the routes apply to"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether the routes are valid and supported"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`,description="Why it is or is not accepted (kubectl describe shows the message)"
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`,description="Whether the routes reached the proxies"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MetaRouter struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the route policies.
	// +required
	Spec MetaRouterSpec `json:"spec"`

	// Status is written by the controller.
	// +optional
	Status conditions.Status `json:"status,omitempty,omitzero"`
}

// MetaRouterSpec defines route policies for a MetaProtocol service.
type MetaRouterSpec struct {
	// Hosts are the destination services the routes apply to, as fully
	// qualified names (e.g. "thrift-sample-server.meta-thrift.svc.cluster.local")
	// or the service names a ServiceEntry declares. A MetaRouter without a host
	// would apply to nothing, so at least one is required. Aeraki applies only
	// the first host; one host per MetaRouter keeps manifests portable.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Hosts []string `json:"hosts"`

	// Gateways are the names of gateways and sidecars that should apply these
	// routes, used as in Istio's VirtualService.
	// +optional
	Gateways []string `json:"gateways,omitempty"`

	// Routes is the ordered list of route rules; the first rule that matches a
	// request is used. A MetaRouter may carry only rate limits and no routes.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Routes []MetaRoute `json:"routes,omitempty"`

	// LocalRateLimit limits requests per proxy with token buckets.
	// +optional
	LocalRateLimit *LocalRateLimit `json:"localRateLimit,omitempty"`

	// GlobalRateLimit limits requests mesh-wide by asking an external rate
	// limit service.
	// +optional
	GlobalRateLimit *GlobalRateLimit `json:"globalRateLimit,omitempty"`

	// ExportTo lists the namespaces whose proxies may use this MetaRouter. "."
	// means the MetaRouter's own namespace and "*" all namespaces; empty means
	// all namespaces.
	// +optional
	ExportTo []string `json:"exportTo,omitempty"`
}

// MetaRoute describes match conditions and actions for routing MetaProtocol
// requests.
//
// +kubebuilder:validation:XValidation:rule="size(self.route) <= 1 || self.route.map(d, has(d.weight) ? d.weight : 0).sum() == 100",message="when a route has more than one destination, their weights must sum to 100"
type MetaRoute struct {
	// Name identifies the route in logs, traces and status messages.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// Match holds the conditions a request must meet for this route to apply;
	// without it every request matches.
	// +optional
	Match *MetaRouteMatch `json:"match,omitempty"`

	// Route lists the destinations matched requests are forwarded to, split by
	// weight. A route that forwards nowhere is meaningless, so at least one
	// destination is required.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Route []MetaRouteDestination `json:"route"`

	// Mirror sends a copy of the matched requests to another destination,
	// ignoring its responses, e.g. to try a new version with live traffic.
	// +optional
	Mirror *Destination `json:"mirror,omitempty"`

	// MirrorPercentage is the share of the matched requests that is mirrored;
	// when absent, all of them (100%) are.
	// +optional
	MirrorPercentage *Percent `json:"mirrorPercentage,omitempty"`

	// RequestMutation lists key/value pairs set on each request; how they are
	// applied depends on the protocol's codec (e.g. Dubbo attachments).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	RequestMutation []KeyValue `json:"requestMutation,omitempty"`

	// ResponseMutation lists key/value pairs set on each response; how they are
	// applied depends on the protocol's codec.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	ResponseMutation []KeyValue `json:"responseMutation,omitempty"`

	// Timeout bounds the time to wait for a response to a routed request,
	// including retries. Not in Aeraki; when absent the protocol plugin's
	// default applies.
	// +optional
	Timeout duration.Duration `json:"timeout,omitempty"`

	// Retries re-sends a failed request. Not in Aeraki; when absent requests
	// are not retried.
	// +optional
	Retries *RetryPolicy `json:"retries,omitempty"`

	// Fault injects delays or errors into matched requests to test how callers
	// cope. Not in Aeraki.
	// +optional
	Fault *FaultInjection `json:"fault,omitempty"`
}

// MetaRouteMatch holds the conditions on request attributes for a route or a
// rate limit rule. All conditions must hold (AND).
type MetaRouteMatch struct {
	// Attributes maps an attribute name the codec extracts (e.g. "interface",
	// "method", a Dubbo attachment key) to the condition its value must meet.
	// A condition with no exact, prefix or regex checks only that the attribute
	// is present.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Attributes map[string]StringMatch `json:"attributes,omitempty"`
}

// StringMatch says how an attribute's value must match, case-sensitively. At
// most one of exact, prefix and regex may be set; when none is set the match
// only requires the attribute to be present, as Aeraki documents.
//
// +kubebuilder:validation:XValidation:rule="(has(self.exact) ? 1 : 0) + (has(self.prefix) ? 1 : 0) + (has(self.regex) ? 1 : 0) <= 1",message="at most one of exact, prefix or regex may be set (set none to match on the attribute's presence)"
type StringMatch struct {
	// Exact matches a value equal to this string.
	// +optional
	Exact string `json:"exact,omitempty"`

	// Prefix matches a value that starts with this string.
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// Regex matches a value the RE2 regular expression matches in full
	// (https://github.com/google/re2/wiki/Syntax).
	// +optional
	Regex string `json:"regex,omitempty"`
}

// IsPresenceMatch reports whether the match only requires the attribute to be
// present (none of exact, prefix, regex is set).
func (m StringMatch) IsPresenceMatch() bool {
	return m.Exact == "" && m.Prefix == "" && m.Regex == ""
}

// MetaRouteDestination is one weighted target of a route.
type MetaRouteDestination struct {
	// Destination is the service (and subset, port) requests are sent to.
	// +required
	Destination Destination `json:"destination"`

	// Weight is the share (0-100) of the route's requests sent to this
	// destination. With several destinations the weights must sum to 100; a
	// single destination gets all traffic whatever its weight.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight,omitempty"`
}

// Destination identifies the instances of a service requests are forwarded
// to.
type Destination struct {
	// Host is the name of a service in the service registry (a Kubernetes
	// Service or a ServiceEntry host). A fully qualified name is recommended:
	// a short name is resolved in the MetaRouter's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// Subset is the name of a subset defined in a DestinationRule for host, to
	// send traffic to one version of the service.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Subset string `json:"subset,omitempty"`

	// Port selects the port of host when the service exposes several.
	// +optional
	Port *PortSelector `json:"port,omitempty"`
}

// PortSelector selects a service port by number.
type PortSelector struct {
	// Number is the port number.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Number int32 `json:"number,omitempty"`
}

// KeyValue is a key/value pair set on a request or a response.
type KeyValue struct {
	// Key is the name of the attribute to set.
	// +required
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`

	// Value is the value to set.
	// +required
	Value string `json:"value"`
}

// Percent is a percentage in the range [0.0, 100.0].
type Percent struct {
	// Value is the percentage, from 0 to 100; fractions are allowed.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Value float64 `json:"value"`
}

// RetryPolicy says how a failed request is retried. Not in Aeraki.
type RetryPolicy struct {
	// Attempts is the number of retries after the first try; 0 disables
	// retries.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Attempts int32 `json:"attempts"`

	// PerTryTimeout bounds each try, the first one included; when absent each
	// try may use what is left of the route's timeout.
	// +optional
	PerTryTimeout duration.Duration `json:"perTryTimeout,omitempty"`

	// RetryOn lists the failure conditions that trigger a retry, such as
	// "connect-failure", "reset", "timeout" or a protocol's status name; the
	// protocol plugin documents which it supports and reports others in the
	// status. When absent the plugin's default set applies.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	RetryOn []string `json:"retryOn,omitempty"`
}

// FaultInjection injects delays, errors or both into matched requests. Not in
// Aeraki.
//
// +kubebuilder:validation:XValidation:rule="has(self.delay) || has(self.abort)",message="fault must set delay, abort or both"
type FaultInjection struct {
	// Delay holds requests back before forwarding them.
	// +optional
	Delay *FaultDelay `json:"delay,omitempty"`

	// Abort answers requests with an error instead of forwarding them.
	// +optional
	Abort *FaultAbort `json:"abort,omitempty"`
}

// FaultDelay delays a share of the requests by a fixed time.
type FaultDelay struct {
	// FixedDelay is how long a request is held before being forwarded;
	// more than zero (Envoy's fault delay requires it).
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="fixedDelay must be more than zero"
	FixedDelay duration.Duration `json:"fixedDelay"`

	// Percentage is the share of requests delayed; when absent, all of them.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`
}

// FaultAbort answers a share of the requests with an error.
//
// The error is a protocol-neutral status (the canonical gRPC status names,
// which Envoy's generic proxy also uses), not a protocol-specific number: a
// MetaRouter's routes apply to whatever MetaProtocol the host speaks, and a
// number means different things in Dubbo, Thrift or tRPC. Each protocol plugin
// maps the status to its own error (a Dubbo response status, a Thrift
// application exception), and reports UnsupportedValue when it has none.
type FaultAbort struct {
	// Status is the error returned, e.g. UNAVAILABLE or DEADLINE_EXCEEDED.
	// +required
	Status FaultStatus `json:"status"`

	// Percentage is the share of requests aborted; when absent, all of them.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`
}

// FaultStatus is a canonical error status (the gRPC status code names) that
// an aborted request is answered with. OK is not an error and is excluded.
// +kubebuilder:validation:Enum=CANCELLED;UNKNOWN;INVALID_ARGUMENT;DEADLINE_EXCEEDED;NOT_FOUND;ALREADY_EXISTS;PERMISSION_DENIED;RESOURCE_EXHAUSTED;FAILED_PRECONDITION;ABORTED;OUT_OF_RANGE;UNIMPLEMENTED;INTERNAL;UNAVAILABLE;DATA_LOSS;UNAUTHENTICATED
type FaultStatus string

// The FaultStatus values, in gRPC code order (1-16).
const (
	FaultStatusCancelled          FaultStatus = "CANCELLED"
	FaultStatusUnknown            FaultStatus = "UNKNOWN"
	FaultStatusInvalidArgument    FaultStatus = "INVALID_ARGUMENT"
	FaultStatusDeadlineExceeded   FaultStatus = "DEADLINE_EXCEEDED"
	FaultStatusNotFound           FaultStatus = "NOT_FOUND"
	FaultStatusAlreadyExists      FaultStatus = "ALREADY_EXISTS"
	FaultStatusPermissionDenied   FaultStatus = "PERMISSION_DENIED"
	FaultStatusResourceExhausted  FaultStatus = "RESOURCE_EXHAUSTED"
	FaultStatusFailedPrecondition FaultStatus = "FAILED_PRECONDITION"
	FaultStatusAborted            FaultStatus = "ABORTED"
	FaultStatusOutOfRange         FaultStatus = "OUT_OF_RANGE"
	FaultStatusUnimplemented      FaultStatus = "UNIMPLEMENTED"
	FaultStatusInternal           FaultStatus = "INTERNAL"
	FaultStatusUnavailable        FaultStatus = "UNAVAILABLE"
	FaultStatusDataLoss           FaultStatus = "DATA_LOSS"
	FaultStatusUnauthenticated    FaultStatus = "UNAUTHENTICATED"
)

// faultStatusCodes maps each FaultStatus to its gRPC code number.
var faultStatusCodes = map[FaultStatus]int32{
	FaultStatusCancelled: 1, FaultStatusUnknown: 2, FaultStatusInvalidArgument: 3,
	FaultStatusDeadlineExceeded: 4, FaultStatusNotFound: 5, FaultStatusAlreadyExists: 6,
	FaultStatusPermissionDenied: 7, FaultStatusResourceExhausted: 8,
	FaultStatusFailedPrecondition: 9, FaultStatusAborted: 10, FaultStatusOutOfRange: 11,
	FaultStatusUnimplemented: 12, FaultStatusInternal: 13, FaultStatusUnavailable: 14,
	FaultStatusDataLoss: 15, FaultStatusUnauthenticated: 16,
}

// Code returns the gRPC (and absl) status code number of s, and false when s
// is not a known status.
func (s FaultStatus) Code() (int32, bool) {
	c, ok := faultStatusCodes[s]
	return c, ok
}

// LocalRateLimit limits requests in each proxy with token buckets. Conditions
// are checked first; requests that match none use the default bucket, or are
// not limited when there is none.
//
// +kubebuilder:validation:XValidation:rule="has(self.tokenBucket) || (has(self.conditions) && size(self.conditions) > 0)",message="localRateLimit must set tokenBucket, conditions or both"
type LocalRateLimit struct {
	// TokenBucket is the default bucket for requests no condition matches.
	// +optional
	TokenBucket *TokenBucket `json:"tokenBucket,omitempty"`

	// Conditions are more specific limits; the first that matches a request is
	// used.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Conditions []LocalRateLimitCondition `json:"conditions,omitempty"`
}

// TokenBucket is a token bucket used for rate limiting: each request takes a
// token, and requests that find the bucket empty are rejected.
type TokenBucket struct {
	// MaxTokens is the number of tokens the bucket holds, and starts with. It
	// must be greater than 0.
	// +required
	// +kubebuilder:validation:Minimum=1
	MaxTokens int32 `json:"maxTokens"`

	// TokensPerFill is the number of tokens added every fillInterval; when
	// absent, one token.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=1
	TokensPerFill *int32 `json:"tokensPerFill,omitempty"`

	// FillInterval is how often tokensPerFill tokens are added to the
	// bucket; at least 50ms, the shortest Envoy's local rate limit takes.
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('50ms')",message="fillInterval must be at least 50ms (Envoy refuses a shorter fill timer)"
	FillInterval duration.Duration `json:"fillInterval"`
}

// LocalRateLimitCondition is a rate limit that applies to the requests
// matching its conditions.
type LocalRateLimitCondition struct {
	// Match selects the requests this limit applies to.
	// +required
	Match MetaRouteMatch `json:"match"`

	// TokenBucket is the bucket for the matching requests.
	// +required
	TokenBucket TokenBucket `json:"tokenBucket"`
}

// GlobalRateLimit configures a global rate limit service (Envoy's rate limit
// service protocol) for the MetaProtocol proxy.
type GlobalRateLimit struct {
	// Match selects the requests that are rate limited; without it, all are.
	// +optional
	Match *MetaRouteMatch `json:"match,omitempty"`

	// Domain is the rate limit domain sent to the rate limit service, which
	// selects its configuration.
	// +required
	// +kubebuilder:validation:MinLength=1
	Domain string `json:"domain"`

	// RequestTimeout bounds each call to the rate limit service; Envoy's
	// default (20ms) applies when absent.
	// +optional
	RequestTimeout duration.Duration `json:"requestTimeout,omitempty"`

	// DenyOnFail rejects requests when the rate limit service cannot be
	// reached; by default they are let through.
	// +optional
	DenyOnFail bool `json:"denyOnFail,omitempty"`

	// RateLimitService is the cluster name of the rate limit service, e.g.
	// "outbound|8081||rate-limit-server.meta-dubbo.svc.cluster.local".
	// +required
	// +kubebuilder:validation:MinLength=1
	RateLimitService string `json:"rateLimitService"`

	// Descriptors say which request properties are sent to the rate limit
	// service, and under which descriptor keys.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Descriptors []GlobalRateLimitDescriptor `json:"descriptors"`
}

// GlobalRateLimitDescriptor maps a request property to a descriptor key of
// the rate limit service's configuration. They are usually the same name; the
// mapping lets them differ.
type GlobalRateLimitDescriptor struct {
	// Property is the request attribute whose value is sent.
	// +required
	// +kubebuilder:validation:MinLength=1
	Property string `json:"property"`

	// DescriptorKey is the key the value is sent under.
	// +required
	// +kubebuilder:validation:MinLength=1
	DescriptorKey string `json:"descriptorKey"`
}

// MetaRouterList is a list of MetaRouters.
//
// +kubebuilder:object:root=true
type MetaRouterList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the listed MetaRouters.
	Items []MetaRouter `json:"items"`
}
