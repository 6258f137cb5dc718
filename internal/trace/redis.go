package trace

import (
	"fmt"
	"strings"

	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
)

// Attributes a traced Redis command is described with.
const (
	// redisAttrKey is the command's (first) key.
	redisAttrKey = "key"
	// redisAttrCommand is the command, GET when absent.
	redisAttrCommand = "command"
)

// redisProxy simulates redis_proxy on one command: the route whose prefix
// is the longest prefix of the key (compared ignoring case when
// case_insensitive is set), else the catch-all route; remove_prefix
// rewrites the key; each mirror policy copies the command unless it
// excludes reads and the command reads; faults for the command are
// reported. The route's cluster receives the command.
func (r *run) redisProxy(c *conn, rp *redisproxyv3.RedisProxy) {
	key, ok := c.attrs[redisAttrKey]
	if !ok {
		r.stop(c.proxy, "redis_proxy %s: give the command's key (--attr key=...) to trace its route", rp.GetStatPrefix())
		return
	}
	cmd := strings.ToUpper(c.attrs[redisAttrCommand])
	if cmd == "" {
		cmd = "GET"
	}
	pr := rp.GetPrefixRoutes()
	var route *redisproxyv3.RedisProxy_PrefixRoutes_Route
	cmp := func(s string) string {
		if pr.GetCaseInsensitive() {
			return strings.ToLower(s)
		}
		return s
	}
	for _, rt := range pr.GetRoutes() {
		if strings.HasPrefix(cmp(key), cmp(rt.GetPrefix())) && (route == nil || len(rt.GetPrefix()) > len(route.GetPrefix())) {
			route = rt
		}
	}
	name, detail := "", ""
	switch {
	case route != nil:
		name, detail = fmt.Sprintf("prefix %q", route.GetPrefix()), fmt.Sprintf("longest prefix of key %q", key)
		if route.GetRemovePrefix() {
			detail += fmt.Sprintf(", sent as key %q", key[len(route.GetPrefix()):])
		}
	case pr.GetCatchAllRoute() != nil:
		route, name, detail = pr.GetCatchAllRoute(), "catch-all", fmt.Sprintf("no prefix route matches key %q", key)
	default:
		r.stop(c.proxy, "redis_proxy %s: no route for key %q and no catch-all route: the command fails", rp.GetStatPrefix(), key)
		return
	}
	detail = fmt.Sprintf("%s %s: %s; cluster %s", cmd, key, detail, route.GetCluster())
	for _, m := range route.GetRequestMirrorPolicy() {
		pct := fraction(m.GetRuntimeFraction().GetDefaultValue().GetNumerator(), m.GetRuntimeFraction().GetDefaultValue().GetDenominator().String())
		if m.GetRuntimeFraction() == nil {
			pct = "100%"
		}
		if m.GetExcludeReadCommands() && redisReads[cmd] {
			detail += fmt.Sprintf("; not mirrored to %s (it excludes read commands)", m.GetCluster())
			continue
		}
		detail += fmt.Sprintf("; mirrored to %s (%s of commands)", m.GetCluster(), pct)
	}
	for _, f := range rp.GetFaults() {
		if len(f.GetCommands()) > 0 && !contains(f.GetCommands(), cmd) {
			continue
		}
		detail += fmt.Sprintf("; fault %s for %s of commands", f.GetFaultType(), fraction(f.GetFaultEnabled().GetDefaultValue().GetNumerator(), f.GetFaultEnabled().GetDefaultValue().GetDenominator().String()))
		if f.GetDelay() != nil {
			detail += " after " + f.GetDelay().AsDuration().String()
		}
	}
	if len(rp.GetDownstreamAuthPasswords()) > 0 || rp.GetDownstreamAuthPassword() != nil {
		detail += "; clients must AUTH first"
	}
	r.hop(c.proxy, StepRoute, name, detail)
	r.upstream(c, route.GetCluster(), nil)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// redisReads are the read commands redis_proxy's mirror policies can
// exclude (a subset of Envoy's list: the common ones).
var redisReads = map[string]bool{
	"GET": true, "MGET": true, "EXISTS": true, "STRLEN": true, "GETRANGE": true, "TTL": true, "PTTL": true, "TYPE": true,
	"HGET": true, "HMGET": true, "HGETALL": true, "HEXISTS": true, "HKEYS": true, "HVALS": true, "HLEN": true,
	"LRANGE": true, "LINDEX": true, "LLEN": true, "SMEMBERS": true, "SISMEMBER": true, "SCARD": true,
	"ZRANGE": true, "ZSCORE": true, "ZCARD": true, "ZRANK": true, "ZCOUNT": true, "ZRANGEBYSCORE": true,
	"BITCOUNT": true, "GETBIT": true, "DUMP": true, "SCAN": true, "HSCAN": true, "SSCAN": true, "ZSCAN": true,
}
