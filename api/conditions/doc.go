// Package conditions provides the status block every aeraki custom resource
// carries and the condition types and reasons written into it.
//
// It is not an API group: MetaRouter, ApplicationProtocol, RedisService,
// RedisDestination and DubboAuthorizationPolicy all embed [Status], so a
// controller sets conditions the same way on every kind and `kubectl get`
// shows the same Accepted/Programmed columns everywhere. The vocabulary
// follows Gateway API (Accepted, ResolvedRefs, Programmed), which operators
// of Istio waypoints already read.
//
// +kubebuilder:object:generate=true
package conditions
