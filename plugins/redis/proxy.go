package redis

import (
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// defaultOpTimeout is redis_proxy's operation timeout when the
// RedisService sets none, Aeraki's default.
const defaultOpTimeout = time.Minute

// redisProxy builds the redis_proxy filter for a port from its routes and
// the host's RedisService (nil for none). An error names the RedisService.
func redisProxy(ctx *plugin.BuildContext, routes *redisproxyv3.RedisProxy_PrefixRoutes, rs *redisv1alpha1.RedisService) (*redisproxyv3.RedisProxy, error) {
	rp := &redisproxyv3.RedisProxy{
		StatPrefix:   ctx.StatPrefix(),
		PrefixRoutes: routes,
		Settings:     &redisproxyv3.RedisProxy_ConnPoolSettings{OpTimeout: durationpb.New(defaultOpTimeout)},
	}
	if rs == nil {
		return rp, nil
	}
	ref := serviceRef(rs)
	if s := rs.Spec.Settings; s != nil {
		for _, err := range settings(rp.Settings, s) {
			ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: "spec.settings", Reason: conditions.ReasonInvalidRoute, Message: err.Error() + "; Envoy's default is used"})
		}
		creds, err := resolveAuth(ctx.Model, rs.Namespace, s.Auth)
		if err != nil {
			return nil, plugin.Errorf(Name, ref, conditions.ReasonRefNotFound, "spec.settings.auth: %v (the port refuses calls rather than stop asking clients for the password)", err)
		}
		if creds.password != "" {
			rp.DownstreamAuthPasswords = []*corev3.DataSource{inline(creds.password)}
		}
		if creds.username != "" {
			rp.DownstreamAuthUsername = inline(creds.username)
		}
	}
	for i, f := range rs.Spec.Faults {
		rf, err := fault(f)
		if err != nil {
			ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: fmt.Sprintf("spec.faults[%d]", i), Reason: conditions.ReasonInvalidRoute, Message: err.Error() + "; the fault is not injected"})
			continue
		}
		rp.Faults = append(rp.Faults, rf)
	}
	return rp, nil
}

// settings fills redis_proxy's connection pool settings; a value that
// cannot be used is returned as an error and left at Envoy's default.
func settings(out *redisproxyv3.RedisProxy_ConnPoolSettings, s *redisv1alpha1.RedisServiceSettings) []error {
	var errs []error
	if d, err := parse(s.OpTimeout); err != nil {
		errs = append(errs, fmt.Errorf("opTimeout: %w", err))
	} else if d > 0 {
		out.OpTimeout = durationpb.New(d)
	}
	if d, err := parse(s.BufferFlushTimeout); err != nil {
		errs = append(errs, fmt.Errorf("bufferFlushTimeout: %w", err))
	} else if d > 0 {
		out.BufferFlushTimeout = durationpb.New(d)
	}
	out.EnableCommandStats = s.EnableCommandStats
	out.EnableHashtagging = s.EnableHashtagging
	out.EnableRedirection = s.EnableRedirection
	switch {
	case s.MaxBufferSizeBeforeFlush < 0:
		errs = append(errs, fmt.Errorf("maxBufferSizeBeforeFlush %d is negative", s.MaxBufferSizeBeforeFlush))
	case s.MaxBufferSizeBeforeFlush > 0:
		out.MaxBufferSizeBeforeFlush = uint32(s.MaxBufferSizeBeforeFlush)
	}
	if n := s.MaxUpstreamUnknownConnections; n != nil {
		if *n < 0 {
			errs = append(errs, fmt.Errorf("maxUpstreamUnknownConnections %d is negative", *n))
		} else {
			out.MaxUpstreamUnknownConnections = wrapperspb.UInt32(uint32(*n))
		}
	}
	policy, ok := readPolicies[s.ReadPolicy]
	if !ok {
		errs = append(errs, fmt.Errorf("readPolicy %q is not one of MASTER, PREFER_MASTER, REPLICA, PREFER_REPLICA, ANY", s.ReadPolicy))
	}
	out.ReadPolicy = policy
	return errs
}

var readPolicies = map[redisv1alpha1.ReadPolicy]redisproxyv3.RedisProxy_ConnPoolSettings_ReadPolicy{
	"":                                    redisproxyv3.RedisProxy_ConnPoolSettings_MASTER,
	redisv1alpha1.ReadPolicyMaster:        redisproxyv3.RedisProxy_ConnPoolSettings_MASTER,
	redisv1alpha1.ReadPolicyPreferMaster:  redisproxyv3.RedisProxy_ConnPoolSettings_PREFER_MASTER,
	redisv1alpha1.ReadPolicyReplica:       redisproxyv3.RedisProxy_ConnPoolSettings_REPLICA,
	redisv1alpha1.ReadPolicyPreferReplica: redisproxyv3.RedisProxy_ConnPoolSettings_PREFER_REPLICA,
	redisv1alpha1.ReadPolicyAny:           redisproxyv3.RedisProxy_ConnPoolSettings_ANY,
}

func fault(f redisv1alpha1.RedisFault) (*redisproxyv3.RedisProxy_RedisFault, error) {
	out := &redisproxyv3.RedisProxy_RedisFault{Commands: f.Commands}
	switch strings.ToUpper(string(f.Type)) {
	case "", string(redisv1alpha1.FaultTypeDelay):
		out.FaultType = redisproxyv3.RedisProxy_RedisFault_DELAY
	case string(redisv1alpha1.FaultTypeError):
		out.FaultType = redisproxyv3.RedisProxy_RedisFault_ERROR
	default:
		return nil, fmt.Errorf("type %q is not DELAY or ERROR", f.Type)
	}
	pct, err := percent(f.Percentage)
	if err != nil {
		return nil, err
	}
	out.FaultEnabled = &corev3.RuntimeFractionalPercent{DefaultValue: pct}
	d, err := parse(f.Delay)
	if err != nil {
		return nil, fmt.Errorf("delay: %w", err)
	}
	if d > 0 {
		out.Delay = durationpb.New(d)
	}
	if out.FaultType == redisproxyv3.RedisProxy_RedisFault_DELAY && out.Delay == nil {
		return nil, fmt.Errorf("a DELAY fault needs a delay, such as 100ms")
	}
	return out, nil
}

func parse(d duration.Duration) (time.Duration, error) {
	if d == "" {
		return 0, nil
	}
	return d.Parse()
}

func inline(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}
