package plugin

import "errors"

// ErrSkipPort, returned (or wrapped) by BuildRouteConfig or
// BuildNetworkFilters, leaves the port in this role as it would be without
// aeraki: plain TCP, proxied by istiod's tcp_proxy on sidecars and at L4
// by the waypoint. It is not a failure: nothing is reported and nothing
// fails closed.
//
// Use it when the plugin has nothing to add in a role (the Redis plugin
// on a sidecar's inbound side, where a redis_proxy in front of the local
// server would only restrict the commands it accepts) or when the port's
// traffic cannot be carried by the data plane at all (a codec only a
// custom proxy has). In the second case say why, on the objects the user
// wrote, from ObjectValidator or with ctx.Warnf: the user asked for
// something and must learn it is not done. Never use it to skip a policy
// (authorization, rate limits): a port whose policy cannot be built must
// fail closed with an error instead.
var ErrSkipPort = errors.New("the plugin leaves this port at L4 in this role")
