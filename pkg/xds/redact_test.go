package xds_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	redisv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

func inline(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}

// TestRedactHidesPasswordsInsideAny: passwords in a redis_proxy filter and
// in a cluster's RedisProtocolOptions, both packed in Any, are replaced in
// the copy; the original keeps them; usernames and file paths stay.
func TestRedactHidesPasswordsInsideAny(t *testing.T) {
	filter := xds.NetworkFilter("envoy.filters.network.redis_proxy", &redisv3.RedisProxy{
		StatPrefix:              "redis",
		DownstreamAuthPasswords: []*corev3.DataSource{inline("hunter2"), {Specifier: &corev3.DataSource_Filename{Filename: "/etc/pw"}}},
		DownstreamAuthUsername:  inline("alice"),
		PrefixRoutes:            &redisv3.RedisProxy_PrefixRoutes{CatchAllRoute: &redisv3.RedisProxy_PrefixRoutes_Route{Cluster: "c"}},
	})
	cluster := &clusterv3.Cluster{Name: "c", TypedExtensionProtocolOptions: map[string]*anypb.Any{
		"envoy.filters.network.redis_proxy": xds.MustAny(&redisv3.RedisProtocolOptions{AuthPassword: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte("s3cret")}}}),
	}}
	for name, tc := range map[string]struct {
		in     proto.Message
		secret string // as protojson shows it (bytes are base64)
		keep   []string
	}{
		"redis_proxy": {filter, "hunter2", []string{"alice", "/etc/pw", xds.Redacted}},
		"cluster":     {cluster, "czNjcmV0", []string{xds.Redacted}},
	} {
		t.Run(name, func(t *testing.T) {
			got := protojson.Format(xds.Redact(tc.in))
			if strings.Contains(got, tc.secret) {
				t.Fatalf("secret left in redacted copy: %s", got)
			}
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Errorf("redacted copy lost %q: %s", k, got)
				}
			}
			if !strings.Contains(protojson.Format(tc.in), tc.secret) {
				t.Errorf("Redact modified its input")
			}
		})
	}
}

// TestRedactHidesPrivateKeys: an SDS secret's inline private key (and
// session ticket keys) are redacted; the certificate chain stays.
func TestRedactHidesPrivateKeys(t *testing.T) {
	sec := &tlsv3.Secret{Name: "default", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inline("-----BEGIN CERTIFICATE-----chain"),
		PrivateKey:       inline("-----BEGIN EC PRIVATE KEY-----key"),
	}}}
	tickets := &tlsv3.Secret{Name: "tickets", Type: &tlsv3.Secret_SessionTicketKeys{SessionTicketKeys: &tlsv3.TlsSessionTicketKeys{
		Keys: []*corev3.DataSource{{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte("ticket-key-bytes-ticket-key-bytes")}}},
	}}}
	for _, m := range []proto.Message{sec, tickets} {
		b, _ := protojson.Marshal(xds.Redact(m))
		if strings.Contains(string(b), "PRIVATE KEY") || strings.Contains(string(b), "dGlja2V0") {
			t.Errorf("redacted secret still shows a key: %s", b)
		}
		if !strings.Contains(string(b), xds.Redacted) {
			t.Errorf("no redaction marker: %s", b)
		}
	}
	b, _ := protojson.Marshal(xds.Redact(sec))
	if !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("the certificate chain is not secret and must stay: %s", b)
	}
}

// TestHasSecretAgreesWithRedact: HasSecret is true exactly when Redact
// changes the message, and leaves the message alone.
func TestHasSecretAgreesWithRedact(t *testing.T) {
	redisFilter := func(pw *corev3.DataSource) proto.Message {
		return xds.NetworkFilter("envoy.filters.network.redis_proxy", &redisv3.RedisProxy{StatPrefix: "r", DownstreamAuthPasswords: []*corev3.DataSource{pw},
			DownstreamAuthUsername: inline("alice")})
	}
	for name, m := range map[string]proto.Message{
		"inline password in Any":   redisFilter(inline("hunter2")),
		"password from a file":     redisFilter(&corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/pw"}}),
		"already redacted":         redisFilter(inline(xds.Redacted)),
		"bytes password":           &redisv3.RedisProtocolOptions{AuthPassword: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte("x")}}},
		"username only":            &redisv3.RedisProtocolOptions{AuthUsername: inline("alice")},
		"private key":              &tlsv3.TlsCertificate{PrivateKey: inline("key")},
		"certificate chain only":   &tlsv3.TlsCertificate{CertificateChain: inline("chain")},
		"cluster without anything": &clusterv3.Cluster{Name: "c"},
	} {
		before := proto.Clone(m)
		want := !proto.Equal(xds.Redact(m), m)
		if got := xds.HasSecret(m); got != want {
			t.Errorf("%s: HasSecret %v, but Redact changes it: %v", name, got, want)
		}
		if !proto.Equal(before, m) {
			t.Errorf("%s: HasSecret modified the message", name)
		}
	}
}
