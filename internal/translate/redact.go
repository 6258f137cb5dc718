package translate

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Config shown to people (`aeraki render`, debug endpoints) is pasted into
// issues and kept in CI logs, while a Redis password in it only has to
// reach Envoy. So what is shown has its secrets replaced by "<redacted>"
// (render prints them with --show-secrets, to apply EnvoyFilters by hand);
// what aeraki serves to istiod and to proxies carries the real values.

// RedactEnvoyFilter returns ef with the secrets in its patch values
// replaced by "<redacted>"; ef itself is not modified. A patch value that
// does not decode as the Envoy message its applyTo names is kept as is.
func RedactEnvoyFilter(ef *EnvoyFilter) *EnvoyFilter {
	var spec *networkingv1alpha3.EnvoyFilter
	for i, p := range ef.Spec().GetConfigPatches() {
		v, ok := redactedValue(p)
		if !ok {
			continue
		}
		if spec == nil {
			spec = proto.Clone(ef.Spec()).(*networkingv1alpha3.EnvoyFilter)
		}
		spec.ConfigPatches[i].Patch.Value = v
	}
	if spec == nil {
		return ef
	}
	out := *ef
	out.spec, out.lazy = spec, nil
	return &out
}

// redactedValue decodes a patch value, redacts it and encodes it again;
// ok is false when there was nothing to redact.
func redactedValue(p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) (*structpb.Struct, bool) {
	var m proto.Message
	switch p.GetApplyTo() {
	case networkingv1alpha3.EnvoyFilter_CLUSTER:
		m = &clusterv3.Cluster{}
	case networkingv1alpha3.EnvoyFilter_NETWORK_FILTER:
		m = &listenerv3.Filter{}
	default:
		return nil, false
	}
	raw, err := protojson.Marshal(p.GetPatch().GetValue())
	if err != nil || protojson.Unmarshal(raw, m) != nil {
		return nil, false
	}
	r := xds.Redact(m)
	if proto.Equal(r, m) {
		return nil, false
	}
	b, err := protojson.Marshal(r)
	if err != nil {
		return nil, false
	}
	s := &structpb.Struct{}
	if protojson.Unmarshal(b, s) != nil {
		return nil, false
	}
	return s, true
}

// RedactProxy returns a copy of p whose listeners and clusters have their
// secrets replaced by "<redacted>".
func RedactProxy(p *plugin.Proxy) *plugin.Proxy {
	out := *p
	out.Listeners = redactAll(p.Listeners)
	out.Clusters = redactAll(p.Clusters)
	return &out
}

func redactAll[T proto.Message](list []T) []T {
	out := make([]T, len(list))
	for i, m := range list {
		out[i] = xds.Redact(m).(T)
	}
	return out
}
