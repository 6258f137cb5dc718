package redis

import (
	"fmt"
	"math"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/aeraki-ng/aeraki/api/conditions"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// prefixRoutes turns a RedisService's routes into redis_proxy's prefix
// routes; without a RedisService, or without routes, every key goes to
// the service being built. Routes whose destination cannot be resolved
// are reported on the RedisService and skipped.
func prefixRoutes(ctx *plugin.BuildContext, rs *redisv1alpha1.RedisService) *redisproxyv3.RedisProxy_PrefixRoutes {
	out := &redisproxyv3.RedisProxy_PrefixRoutes{}
	self := ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")
	if rs == nil || len(rs.Spec.Redis) == 0 {
		out.CatchAllRoute = &redisproxyv3.RedisProxy_PrefixRoutes_Route{Cluster: self}
		if rs != nil && rs.Spec.Settings != nil {
			out.CaseInsensitive = rs.Spec.Settings.CaseInsensitive
		}
		return out
	}
	ref := serviceRef(rs)
	if rs.Spec.Settings != nil {
		out.CaseInsensitive = rs.Spec.Settings.CaseInsensitive
	}
	for i, r := range rs.Spec.Redis {
		field := fmt.Sprintf("spec.redis[%d]", i)
		cluster, err := destination(ctx, rs.Namespace, r.Route)
		if err != nil {
			ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: field + ".route", Reason: conditions.ReasonHostNotFound,
				Message: err.Error() + "; the route is skipped"})
			continue
		}
		route := &redisproxyv3.RedisProxy_PrefixRoutes_Route{Cluster: cluster}
		for j, m := range r.Mirror {
			mc, err := destination(ctx, rs.Namespace, m.Route)
			if err != nil {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: fmt.Sprintf("%s.mirror[%d].route", field, j), Reason: conditions.ReasonHostNotFound,
					Message: err.Error() + "; the mirror is skipped"})
				continue
			}
			pct, err := percent(m.Percentage)
			if err != nil {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: fmt.Sprintf("%s.mirror[%d].percentage.value", field, j), Reason: conditions.ReasonInvalidRoute,
					Message: err.Error() + "; the mirror is skipped"})
				continue
			}
			route.RequestMirrorPolicy = append(route.RequestMirrorPolicy, &redisproxyv3.RedisProxy_PrefixRoutes_Route_RequestMirrorPolicy{
				Cluster:             mc,
				RuntimeFraction:     &corev3.RuntimeFractionalPercent{DefaultValue: pct},
				ExcludeReadCommands: m.ExcludeReadCommands,
			})
		}
		if r.Match == nil || r.Match.Key == nil {
			if out.CatchAllRoute != nil {
				ctx.Warnf(ref, field, conditions.ReasonInvalidRoute, "a second catch-all route is never used: spec.redis already has one before it")
				continue
			}
			out.CatchAllRoute = route
			continue
		}
		route.Prefix, route.RemovePrefix = r.Match.Key.Prefix, r.Match.Key.RemovePrefix
		out.Routes = append(out.Routes, route)
	}
	return out
}

// destination resolves a route's host and port to the cluster name in the
// role being built: the port named, else the port with the number being
// built, else the service's only Redis port.
func destination(ctx *plugin.BuildContext, namespace string, d redisv1alpha1.RedisDestinationRef) (string, error) {
	svc := ctx.Model.LookupService(d.Host, namespace)
	if svc == nil {
		return "", fmt.Errorf("host %q matches no Service or ServiceEntry", d.Host)
	}
	if d.Port != 0 && !model.ValidPort(int64(d.Port)) {
		return "", fmt.Errorf("port %d is outside 1..65535", d.Port)
	}
	port, err := redisPort(svc, uint32(d.Port), ctx.Port.Number)
	if err != nil {
		return "", err
	}
	return ctx.ClusterName(svc.Hostname, port.Number, ""), nil
}

// redisPort picks the port of svc a destination means.
func redisPort(svc *model.Service, want, building uint32) (*model.Port, error) {
	if want != 0 {
		if p := svc.Port(want); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("%s has no port %d", svc.Hostname, want)
	}
	if p := svc.Port(building); p != nil {
		return p, nil
	}
	var redis []*model.Port
	for _, p := range svc.Ports {
		if p.Protocol == model.ProtocolRedis {
			redis = append(redis, p)
		}
	}
	if len(redis) == 1 {
		return redis[0], nil
	}
	return nil, fmt.Errorf("%s has %d Redis ports and none numbered %d; set the route's port", svc.Hostname, len(redis), building)
}

// percent converts an optional percentage (all when unset) into a
// FractionalPercent with a precision of a ten-thousandth of a percent; a
// value outside 0..100 is an error, never a wrapped numerator.
func percent(p *redisv1alpha1.Percent) (*typev3.FractionalPercent, error) {
	v := 100.0
	if p != nil {
		v = p.Value
	}
	if math.IsNaN(v) || v < 0 || v > 100 {
		return nil, fmt.Errorf("percentage %g is outside 0..100", v)
	}
	return &typev3.FractionalPercent{Numerator: uint32(math.Round(v * 10000)), Denominator: typev3.FractionalPercent_MILLION}, nil
}

// serviceRef is the ObjectRef of a RedisService.
func serviceRef(rs *redisv1alpha1.RedisService) model.ObjectRef {
	return model.ObjectRef{Group: redisv1alpha1.GroupName, Kind: "RedisService", Namespace: rs.Namespace, Name: rs.Name}
}

// destinationRef is the ObjectRef of a RedisDestination.
func destinationRef(rd *redisv1alpha1.RedisDestination) model.ObjectRef {
	return model.ObjectRef{Group: redisv1alpha1.GroupName, Kind: "RedisDestination", Namespace: rd.Namespace, Name: rd.Name}
}
