package hbone

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpoptsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// httpProtocolOptionsKey is the typed_extension_protocol_options key of
// a cluster's upstream HTTP settings.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// sdsConfig fetches secrets from the node's SDS server (the bootstrap's
// sds-grpc cluster), as istio-agent provides it: certificates are issued
// per identity by the CA, never by aeraki.
func sdsConfig() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType:                   corev3.ApiConfigSource_GRPC,
			TransportApiVersion:       corev3.ApiVersion_V3,
			SetNodeOnFirstMessageOnly: true,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: SDSCluster},
			}}},
		}},
	}
}

// hboneTLS is the TLS every HBONE hop uses: TLS 1.3, ALPN h2, the given
// identity's certificate (SDS secret named by its SPIFFE id), and peers
// verified against the mesh's root and trust domain.
func hboneTLS(identity, trustDomain string) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{
			TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
			TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		},
		AlpnProtocols:                  []string{"h2"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: identity, SdsConfig: sdsConfig()}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + trustDomain + "/"}},
			}}},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: SecretRootCA, SdsConfig: sdsConfig()},
		}},
	}
}

// serverTLS is the transport socket of a listener terminating HBONE: a
// client certificate is required, so every tunnel has a peer identity.
func serverTLS(identity, trustDomain string) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: socketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(&tlsv3.DownstreamTlsContext{
		CommonTlsContext:         hboneTLS(identity, trustDomain),
		RequireClientCertificate: wrapperspb.Bool(true),
	})}}
}

// clientTLS is the transport socket of a cluster originating HBONE as identity.
func clientTLS(identity, trustDomain string) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: socketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: xds.MustAny(&tlsv3.UpstreamTlsContext{
		CommonTlsContext: hboneTLS(identity, trustDomain),
	})}}
}

// h2Connect makes a cluster speak HTTP/2 with CONNECT allowed, which
// tcp_proxy's tunneling_config needs to carry connections as streams.
func h2Connect() map[string]*anypb.Any {
	return map[string]*anypb.Any{httpProtocolOptionsKey: xds.MustAny(&httpoptsv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpoptsv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpoptsv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpoptsv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
				Http2ProtocolOptions: &corev3.Http2ProtocolOptions{AllowConnect: true},
			},
		}},
	})}
}
