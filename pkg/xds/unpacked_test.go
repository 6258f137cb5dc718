package xds_test

import (
	"fmt"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	redisv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// TestUnpackedDecodesOnce: the same Any gives the same decoded message
// every time, and it equals what UnmarshalNew gives.
func TestUnpackedDecodesOnce(t *testing.T) {
	a := xds.MustAny(&tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}})
	u := xds.NewUnpacked(xds.NewReach())
	first, err := u.Unpack(a)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := u.Unpack(a)
	if first != again {
		t.Errorf("the same Any was decoded twice")
	}
	want, _ := a.UnmarshalNew()
	if !proto.Equal(first, want) {
		t.Errorf("decoded %v, want %v", first, want)
	}
}

// TestUnpackedDecodesEachOfManyOnce: past the first few Anys (kept in a
// list) the others (kept in a map) are decoded once each too, and each
// gives its own message.
func TestUnpackedDecodesEachOfManyOnce(t *testing.T) {
	u := xds.NewUnpacked(nil)
	var anys []*anypb.Any
	for i := range 20 {
		anys = append(anys, xds.MustAny(&tcpv3.TcpProxy{StatPrefix: strings.Repeat("s", i+1)}))
	}
	first := map[*anypb.Any]proto.Message{}
	for range 2 {
		for i, a := range anys {
			m, err := u.Unpack(a)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.(*tcpv3.TcpProxy).GetStatPrefix(); len(got) != i+1 {
				t.Errorf("Any %d decoded to %q", i, got)
			}
			if prev, ok := first[a]; ok && prev != m {
				t.Errorf("Any %d decoded twice", i)
			}
			first[a] = m
		}
	}
}

// TestUnpackedNotReusedForAnotherMessage: a decoded message is not
// reused for another Any with the same bytes' content elsewhere, nor for
// the same Any once its value or type is set to something else, and a
// verdict (the validation error) follows the new content.
func TestUnpackedNotReusedForAnotherMessage(t *testing.T) {
	valid := &tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}
	invalid := &tcpv3.TcpProxy{ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}} // no stat_prefix
	f := xds.NetworkFilter("envoy.filters.network.tcp_proxy", valid)
	u := xds.NewUnpacked(xds.NewReach())
	if err := u.Validate(f); err != nil {
		t.Fatalf("valid filter refused: %v", err)
	}
	// The same Any, its value replaced: validated again, refused.
	bad := xds.MustAny(invalid)
	f.GetTypedConfig().Value = bad.Value
	if err := u.Validate(f); err == nil || !strings.Contains(err.Error(), "StatPrefix") {
		t.Errorf("the Any's new value was not decoded again: %v", err)
	}
	// The same bytes in another Any are decoded on their own.
	other := &anypb.Any{TypeUrl: bad.TypeUrl, Value: append([]byte(nil), xds.MustAny(valid).Value...)}
	m1, _ := u.Unpack(other)
	if m1.(*tcpv3.TcpProxy).GetStatPrefix() != "s" {
		t.Errorf("another Any got a decoded message not its own: %v", m1)
	}
	// A type URL set to another type: decoded as that type.
	other.TypeUrl = "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy"
	m2, _ := u.Unpack(other)
	if _, ok := m2.(*redisv3.RedisProxy); !ok {
		t.Errorf("the Any's new type was not decoded: %T", m2)
	}
}

// TestUnpackedAgreesWithTheOneShotChecks: Validate and HasSecret through
// an Unpacked (walks pruned by a Reach) give what the package functions
// give (nothing pruned), on the same config checked several times.
func TestUnpackedAgreesWithTheOneShotChecks(t *testing.T) {
	pw := &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "hunter2"}}
	msgs := []proto.Message{
		xds.NetworkFilter("envoy.filters.network.redis_proxy", &redisv3.RedisProxy{StatPrefix: "r", DownstreamAuthPasswords: []*corev3.DataSource{pw},
			PrefixRoutes: &redisv3.RedisProxy_PrefixRoutes{CatchAllRoute: &redisv3.RedisProxy_PrefixRoutes_Route{Cluster: "c"}}}),
		xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}),
		&listenerv3.Filter{Name: "x", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/not.Linked"}}},
	}
	u := xds.NewUnpacked(xds.NewReach())
	for range 2 {
		for i, m := range msgs {
			if got, want := errText(u.Validate(m)), errText(xds.Validate(m)); got != want {
				t.Errorf("message %d: Validate through Unpacked %q, alone %q", i, got, want)
			}
			if got, want := u.HasSecret(m), xds.HasSecret(m); got != want {
				t.Errorf("message %d: HasSecret through Unpacked %v, alone %v", i, got, want)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPackedMessageIsReadNotDecoded: an Any made by Pack gives back the
// message it was packed from, while its type URL and Value are the packed
// ones; its Value set to other bytes, it is decoded like any other Any.
func TestPackedMessageIsReadNotDecoded(t *testing.T) {
	u := xds.NewUnpacked(xds.NewReach())
	tp := &tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}
	a := u.Pack(tp)
	if want := xds.MustAny(tp); a.TypeUrl != want.TypeUrl || string(a.Value) != string(want.Value) {
		t.Fatalf("Pack gave %v, MustAny %v", a, want)
	}
	if m, err := u.Unpack(a); err != nil || m != tp {
		t.Errorf("the packed Any was decoded (%p, %v), not read (%p)", m, err, tp)
	}
	if err := u.Verify(); err != nil {
		t.Errorf("an unmodified packed message: %v", err)
	}
	a.Value = xds.MustAny(&tcpv3.TcpProxy{StatPrefix: "other"}).Value
	if m, _ := u.Unpack(a); m == tp || m.(*tcpv3.TcpProxy).GetStatPrefix() != "other" {
		t.Errorf("the Any's new value was not decoded: %v", m)
	}
	var none *xds.Unpacked
	if b := none.Pack(tp); string(b.Value) != string(xds.MustAny(tp).Value) {
		t.Errorf("a nil Unpacked does not pack as MustAny does")
	}
}

// TestPackedAgreesWithDecoded: the gates read a packed message and give
// what they give on its decoded copy.
func TestPackedAgreesWithDecoded(t *testing.T) {
	pw := &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "hunter2"}}
	for i, m := range []proto.Message{
		&redisv3.RedisProxy{StatPrefix: "r", DownstreamAuthPasswords: []*corev3.DataSource{pw}, PrefixRoutes: &redisv3.RedisProxy_PrefixRoutes{CatchAllRoute: &redisv3.RedisProxy_PrefixRoutes_Route{Cluster: "c"}}},
		&tcpv3.TcpProxy{ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}, // invalid: no stat_prefix
	} {
		u := xds.NewUnpacked(xds.NewReach())
		f := &listenerv3.Filter{Name: "f", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: u.Pack(m)}}
		if got, want := errText(u.Validate(f)), errText(xds.Validate(f)); got != want {
			t.Errorf("message %d: Validate of the packed message %q, decoded %q", i, got, want)
		}
		if got, want := u.HasSecret(f), xds.HasSecret(f); got != want {
			t.Errorf("message %d: HasSecret of the packed message %v, decoded %v", i, got, want)
		}
	}
}

// TestVerifyFindsWhatTheAnyDoesNotHold: a packed message modified after
// packing, or holding a nil entry (which its bytes decode to an empty
// message), is reported.
func TestVerifyFindsWhatTheAnyDoesNotHold(t *testing.T) {
	u := xds.NewUnpacked(nil)
	tp := &tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}
	u.Pack(tp)
	tp.StatPrefix = "changed"
	if err := u.Verify(); err == nil || !strings.Contains(err.Error(), "modified after it was packed") {
		t.Errorf("a modified packed message: %v", err)
	}
	u = xds.NewUnpacked(nil)
	u.Pack(&listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{{}, nil}})
	if err := u.Verify(); err == nil || !strings.Contains(err.Error(), "nil message at Listener.filter_chains[1]") {
		t.Errorf("a nil list entry: %v", err)
	}
	u = xds.NewUnpacked(nil)
	u.Pack(&tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_WeightedClusters{}})
	if err := u.Verify(); err == nil || !strings.Contains(err.Error(), "nil message at TcpProxy.weighted_clusters") {
		t.Errorf("a oneof's nil message: %v", err)
	}
}

// TestReleasedUnpackedIsEmpty: an Unpacked released to its Reach comes
// back from it holding nothing: a packed Any met again is decoded.
func TestReleasedUnpackedIsEmpty(t *testing.T) {
	r := xds.NewReach()
	u := r.Unpacked()
	tp := &tcpv3.TcpProxy{StatPrefix: "s"}
	var anys []*anypb.Any
	for range 12 { // past the inline entries
		anys = append(anys, u.Pack(tp))
	}
	u.Release()
	again := r.Unpacked()
	for _, a := range anys {
		if m, err := again.Unpack(a); err != nil || m == tp {
			t.Fatalf("a released Unpacked still held the packed message (%v)", err)
		}
	}
	again.Release()
	xds.NewUnpacked(nil).Release() // no Reach: nothing to keep it in
}

// TestValidateAndHasSecretIsBoth: the one walk gives what Validate and
// HasSecret give on their own, pruned or not: a password in a packed
// redis_proxy, a private key in a TLS context packed in a cluster's
// transport socket, a certificate (no credential) and a key read from a
// file (not inline), an invalid filter, an unknown type, a nil Any.
func TestValidateAndHasSecretIsBoth(t *testing.T) {
	inline := func(s string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
	}
	tls := func(key *corev3.DataSource) proto.Message {
		return &clusterv3.Cluster{Name: "c", TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
			TypedConfig: xds.MustAny(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: inline("cert"), PrivateKey: key}}}})}}}
	}
	msgs := []proto.Message{
		xds.NetworkFilter("envoy.filters.network.redis_proxy", &redisv3.RedisProxy{StatPrefix: "r", DownstreamAuthPasswords: []*corev3.DataSource{inline("hunter2")},
			PrefixRoutes: &redisv3.RedisProxy_PrefixRoutes{CatchAllRoute: &redisv3.RedisProxy_PrefixRoutes_Route{Cluster: "c"}}}),
		xds.NetworkFilter("envoy.filters.network.redis_proxy", &redisv3.RedisProxy{StatPrefix: "r", DownstreamAuthPasswords: []*corev3.DataSource{inline(xds.Redacted)}}),
		tls(inline("key")),
		tls(&corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/key"}}),
		xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}),
		&listenerv3.Filter{Name: "x", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/not.Linked"}}},
		&listenerv3.Filter{Name: "x", ConfigType: &listenerv3.Filter_TypedConfig{}},
		// nil entries of lists, a nil Any in a list of them, an Any in a
		// map, a oneof set to another member.
		&listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{nil, {Filters: []*listenerv3.Filter{nil,
			xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}),
			{Name: "y", ConfigType: &listenerv3.Filter_ConfigDiscovery{}}}}},
			ListenerFilters: []*listenerv3.ListenerFilter{{Name: "z", ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/not.Linked"}}}},
			Metadata:        &corev3.Metadata{TypedFilterMetadata: map[string]*anypb.Any{"k": {TypeUrl: "type.googleapis.com/not.Linked"}}}},
	}
	secrets := 0
	for _, u := range []*xds.Unpacked{nil, xds.NewUnpacked(nil), xds.NewUnpacked(xds.NewReach())} {
		for range 2 {
			for i, m := range msgs {
				secret, err := u.ValidateAndHasSecret(m)
				if got, want := errText(err), errText(xds.Validate(m)); got != want {
					t.Errorf("message %d: error %q, Validate alone %q", i, got, want)
				}
				if want := xds.HasSecret(m); secret != want {
					t.Errorf("message %d: secret %v, HasSecret alone %v", i, secret, want)
				}
				if secret {
					secrets++
				}
			}
		}
	}
	if secrets != 2*3*2 {
		t.Errorf("%d secrets found, want the password's and the key's in each of 6 rounds", secrets)
	}
}

// TestPackedFilterIsNetworkFilter: Unpacked.NetworkFilter builds what
// NetworkFilter builds (a type URL shared by a Reach's Anys or not), and
// its message is read back; packing nil panics as MustAny does.
func TestPackedFilterIsNetworkFilter(t *testing.T) {
	tp := &tcpv3.TcpProxy{StatPrefix: "s", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}}
	want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(xds.NetworkFilter("envoy.filters.network.tcp_proxy", tp))
	unpacked := []*xds.Unpacked{nil, xds.NewUnpacked(nil), xds.NewUnpacked(xds.NewReach())}
	for _, u := range unpacked {
		for range 2 {
			f := u.NetworkFilter("envoy.filters.network.tcp_proxy", tp)
			got, _ := proto.MarshalOptions{Deterministic: true}.Marshal(f)
			if string(got) != string(want) {
				t.Errorf("packed filter %v, want %v", f, xds.NetworkFilter("envoy.filters.network.tcp_proxy", tp))
			}
			if m, _ := u.Unpack(f.GetTypedConfig()); u != nil && m != tp {
				t.Errorf("the packed filter's message was not read back")
			}
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "xds: cannot pack") {
			t.Errorf("packing nil: %v", r)
		}
	}()
	xds.NewUnpacked(xds.NewReach()).Pack(nil)
}
