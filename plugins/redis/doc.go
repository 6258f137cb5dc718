// Package redis is aeraki's Redis plugin. It claims ports whose protocol
// is redis (tcp-redis, redis-*, appProtocol redis) and programs them from
// Aeraki's RedisService and RedisDestination objects.
//
// A client's sidecar (and a waypoint) get Envoy's redis_proxy in place of
// tcp_proxy on every Redis port, as in Aeraki: commands are parsed,
// routed by key prefix to a cluster, mirrored, delayed or failed as the
// host's RedisService says, and without one sent whole to the service.
// Clients must then stay within the commands redis_proxy supports (no
// pub/sub, no blocking commands, transactions only on one key).
//
// A server's sidecar (inbound) is left plain TCP (plugin.ErrSkipPort):
// redis_proxy there would add nothing (there is nothing to route) and
// would only narrow the commands the server accepts from clients that are
// not in the mesh.
//
// RedisService (per host, the oldest wins): settings become redis_proxy's
// connection pool settings (op timeout, default one minute as in Aeraki;
// batching; hash tagging; redirections; read policy); settings.auth is the
// password clients must present, inline or from a Secret; routes by key
// prefix (longest prefix wins, remove-prefix, mirrors with a percentage and
// exclude-read-commands) and a catch-all route; faults (delay, error,
// percentage, commands).
//
// RedisDestination (per host) changes the host's upstream cluster through
// plugin.ClusterPatcher: the password (and ACL user) Envoy presents to the
// servers, as RedisProtocolOptions; CLUSTER mode, which switches the
// cluster to Envoy's Redis Cluster discovery (envoy.clusters.redis, load
// balancing CLUSTER_PROVIDED, discovery from discoveryEndpoints or the
// service's own host and port); connect timeout and TCP keepalive. In the
// default PROXY mode the cluster balances by key hash (MAGLEV), so
// redis_proxy shards keys consistently over independent servers, unless a
// DestinationRule already asks for consistent hashing.
//
// Credentials from a Secret are read from its "password" key (else
// "token") and "username", or the keys the reference names, trimmed of
// surrounding white space as Aeraki did (so `echo pw | base64` works).
// They reach Envoy inline; aeraki never logs them, error messages never
// quote them, and `aeraki render` prints "<redacted>" unless given
// --show-secrets. A missing Secret or key is an error on the object that
// names it: a RedisDestination is then left out (the servers refuse the
// unauthenticated commands), and a RedisService's port fails closed rather
// than stop asking clients for the password.
package redis
