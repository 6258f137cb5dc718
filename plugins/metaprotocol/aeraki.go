package metaprotocol

import (
	"encoding/json"
	"fmt"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Names of Aeraki's meta-protocol proxy, from its API
// (aeraki-mesh/meta-protocol-proxy, api/meta_protocol_proxy/v1alpha).
const (
	// AerakiFilterName is the network filter name of the meta-protocol proxy.
	AerakiFilterName = "aeraki.meta_protocol_proxy"
	// AerakiTypeURL is the type of its config, carried in a TypedStruct.
	AerakiTypeURL = "type.googleapis.com/aeraki.meta_protocol_proxy.v1alpha.MetaProtocolProxy"
)

// aerakiRouteConfig expresses routes as the meta-protocol proxy's inline
// route table (aeraki.meta_protocol_proxy.config.route.v1alpha.
// RouteConfiguration), as a Struct with the proto field names: routes in
// order, each matching metadata with Envoy HeaderMatchers, sending to a
// cluster or weighted clusters, with request and response mutations.
func aerakiRouteConfig(ctx *plugin.BuildContext, name string, routes []metaroute.Route) (*structpb.Struct, error) {
	var list []any
	for i := range routes {
		r := &routes[i]
		warnAeraki(ctx, r)
		route := map[string]any{"name": r.Name, "route": aerakiAction(r)}
		if len(r.Match) > 0 {
			var ms []any
			for _, m := range r.Match {
				ms = append(ms, protoMap(m.HeaderMatcher()))
			}
			route["match"] = map[string]any{"metadata": ms}
		}
		if kv := keyValues(r.RequestMutation); kv != nil {
			route["request_mutation"] = kv
		}
		if kv := keyValues(r.ResponseMutation); kv != nil {
			route["response_mutation"] = kv
		}
		list = append(list, route)
		if r.CatchAll() {
			for _, later := range routes[i+1:] {
				if later.Object.Kind != "" {
					ctx.Warnf(later.Object, later.Field, conditions.ReasonInvalidRoute, "route %q is never used: route %q before it matches every call", later.Name, r.Name)
				}
			}
			break
		}
	}
	return toStruct(map[string]any{"name": name, "routes": list})
}

// aerakiFilter is the meta-protocol proxy filter for a port: its codec and
// inline route table in a TypedStruct.
func aerakiFilter(ctx *plugin.BuildContext, c codec, routes *structpb.Struct) (*listenerv3.Filter, error) {
	cfg, err := toStruct(map[string]any{
		"stat_prefix":          ctx.StatPrefix(),
		"application_protocol": string(ctx.Port.Protocol),
		"codec":                map[string]any{"name": c.name},
		"route_config":         routes.AsMap(),
	})
	if err != nil {
		return nil, err
	}
	return xds.NetworkFilter(AerakiFilterName, &xdstypev3.TypedStruct{TypeUrl: AerakiTypeURL, Value: cfg}), nil
}

func aerakiAction(r *metaroute.Route) map[string]any {
	if len(r.Destinations) == 1 {
		return map[string]any{"cluster": r.Destinations[0].Cluster}
	}
	return map[string]any{"weighted_clusters": protoMap(r.WeightedClusters())}
}

func keyValues(kvs []metaroute.KeyValue) []any {
	var out []any
	for _, kv := range kvs {
		out = append(out, map[string]any{"key": kv.Key, "value": kv.Value})
	}
	return out
}

// protoMap is an Envoy message as plain data with proto field names, the
// form a TypedStruct carries.
func protoMap(m proto.Message) map[string]any {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("metaprotocol: cannot encode %T: %v", m, err))
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("metaprotocol: cannot decode %T: %v", m, err))
	}
	return out
}

func toStruct(m map[string]any) (*structpb.Struct, error) {
	// Round-trip through JSON so nested []any and map values of every
	// shape become Struct values.
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	return s, protojson.Unmarshal(b, s)
}

func warnAeraki(ctx *plugin.BuildContext, r *metaroute.Route) {
	metaroute.WarnUnsupported(ctx, r, "Aeraki's meta-protocol proxy", metaroute.FeatureRequestMutation|metaroute.FeatureResponseMutation)
}
