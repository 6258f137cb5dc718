package redis

import (
	"fmt"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// ValidateObject implements plugin.ObjectValidator:
//
//   - a RedisDestination must name a Redis service, and its credentials
//     must resolve (a missing Secret or key is an error on it alone, and
//     it is left out);
//   - a RedisService must name Redis services, and so must its routes
//     (problems that only weaken it, such as a bad duration, are reported
//     when it is built; an unusable password Secret fails its port closed
//     then, rather than dropping the RedisService and with it the
//     password clients must present);
//   - a MetaRouter for a Redis port is refused: Redis routes with
//     RedisService.
func (p *Plugin) ValidateObject(ctx *plugin.ValidateContext, obj model.ObjectInfo) []model.Diagnostic {
	switch o := obj.Object.(type) {
	case *redisv1alpha1.RedisDestination:
		return validateDestination(ctx, obj.Ref, o)
	case *redisv1alpha1.RedisService:
		return validateService(ctx, obj.Ref, o)
	case *metaprotocolv1alpha1.MetaRouter:
		if len(ctx.ClaimedPorts(o.Spec.Hosts, o.Namespace)) == 0 {
			return nil
		}
		return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.hosts", Reason: conditions.ReasonUnsupportedProtocol,
			Message: "names a Redis service: Redis traffic is routed by a RedisService (redis.aeraki.io), not a MetaRouter; move the routes there"}}
	}
	return nil
}

func validateDestination(ctx *plugin.ValidateContext, ref model.ObjectRef, rd *redisv1alpha1.RedisDestination) []model.Diagnostic {
	var out []model.Diagnostic
	errorf := func(field, reason, format string, args ...any) {
		out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	if reason, msg := redisHost(ctx, rd.Spec.Host, rd.Namespace); reason != "" {
		errorf("spec.host", reason, "%s", msg)
	}
	tp := rd.Spec.TrafficPolicy
	if tp == nil || tp.ConnectionPool == nil {
		return out
	}
	if r := tp.ConnectionPool.Redis; r != nil {
		if _, err := resolveAuth(ctx.Model, rd.Namespace, r.Auth); err != nil {
			errorf("spec.trafficPolicy.connectionPool.redis.auth", conditions.ReasonRefNotFound, "%v; the RedisDestination is left out until it resolves", err)
		}
		if r.Mode == redisv1alpha1.RedisModeCluster {
			if _, err := discoveryEndpoints(r.DiscoveryEndpoints, "", 1); err != nil {
				errorf("spec.trafficPolicy.connectionPool.redis.discoveryEndpoints", conditions.ReasonInvalidRoute, "%v", err)
			}
		}
	}
	if tcp := tp.ConnectionPool.TCP; tcp != nil {
		checkDuration := func(field string, d duration.Duration) {
			if _, err := parse(d); err != nil {
				errorf("spec.trafficPolicy.connectionPool.tcp."+field, conditions.ReasonInvalidRoute, "%v; write durations like 100ms or 5s", err)
			}
		}
		checkDuration("connectTimeout", tcp.ConnectTimeout)
		if ka := tcp.TCPKeepalive; ka != nil {
			checkDuration("tcpKeepalive.time", ka.Time)
			checkDuration("tcpKeepalive.interval", ka.Interval)
		}
	}
	return out
}

func validateService(ctx *plugin.ValidateContext, ref model.ObjectRef, rs *redisv1alpha1.RedisService) []model.Diagnostic {
	var out []model.Diagnostic
	if len(rs.Spec.Host) == 0 {
		out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: "spec.host", Reason: conditions.ReasonInvalidRoute, Message: "a RedisService needs at least one host"})
	}
	for i, h := range rs.Spec.Host {
		if reason, msg := redisHost(ctx, h, rs.Namespace); reason != "" {
			out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: fmt.Sprintf("spec.host[%d]", i), Reason: reason, Message: msg})
		}
	}
	for i, r := range rs.Spec.Redis {
		check := func(field string, d redisv1alpha1.RedisDestinationRef) {
			if reason, msg := redisHost(ctx, d.Host, rs.Namespace); reason != "" {
				out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: field + ".host", Reason: reason, Message: msg})
			}
		}
		check(fmt.Sprintf("spec.redis[%d].route", i), r.Route)
		for j, m := range r.Mirror {
			check(fmt.Sprintf("spec.redis[%d].mirror[%d].route", i, j), m.Route)
		}
	}
	return out
}

// redisHost explains why host is not a Redis service: a reason and a
// message, or "" when it is one.
func redisHost(ctx *plugin.ValidateContext, host, namespace string) (reason, msg string) {
	svc := ctx.Model.LookupService(host, namespace)
	if svc == nil {
		return conditions.ReasonHostNotFound, fmt.Sprintf("host %q matches no Service or ServiceEntry; create the service or fix the host", host)
	}
	for _, p := range svc.Ports {
		if ctx.Claims != nil && ctx.Claims(p) {
			return "", ""
		}
	}
	return conditions.ReasonUnsupportedProtocol, fmt.Sprintf("%s has no Redis port; name a port tcp-redis or set its appProtocol to redis", svc.Hostname)
}
