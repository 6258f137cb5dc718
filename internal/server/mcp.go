package server

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/anypb"
	mcp "istio.io/api/mcp/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/internal/translate"
)

// EnvoyFilterType is the MCP collection istiod reads EnvoyFilters from: the
// type URL of an MCP subscription is the Istio GVK, "group/version/Kind".
const EnvoyFilterType = "networking.istio.io/v1alpha3/EnvoyFilter"

// envoyTypePrefix starts the type URL of every Envoy xDS resource; Istio's
// MCP collections are GVKs instead, which is how requests are told apart.
const envoyTypePrefix = "type.googleapis.com/"

// IsMCPType reports whether a type URL names an Istio config collection
// (served to istiod over MCP) rather than an Envoy resource type.
func IsMCPType(typeURL string) bool { return !strings.HasPrefix(typeURL, envoyTypePrefix) }

// mcpEntry is one EnvoyFilter as istiod receives it, kept across
// generations so that an unchanged EnvoyFilter is not encoded again.
type mcpEntry struct {
	ef  *translate.EnvoyFilter
	any *anypb.Any // Any(istio.mcp.v1alpha1.Resource)
	// secret is set when the EnvoyFilter carries credentials.
	secret bool
}

// mcpResource wraps an EnvoyFilter the way istiod's MCP client
// (istio.io/istio/pkg/adsc, handleMCP and mcpToPilot) unwraps it:
//
//   - the Any's type URL must be istio.mcp.v1alpha1.Resource's own
//     (istiod calls UnmarshalTo), which is why go-control-plane's caches,
//     which label every resource with the request's type URL, cannot serve
//     MCP and mcpCache exists;
//   - metadata.name must be "<namespace>/<name>" (anything else is
//     dropped as "invalid name");
//   - metadata.version becomes the config's resourceVersion: istiod updates
//     its copy only when it changes, so it is the EnvoyFilter's content hash;
//   - metadata.create_time is left unset, so every aeraki replica and
//     restart gives istiod the same object (istiod orders EnvoyFilters of
//     equal priority by creation time, then by name).
//
// The spec goes as the translator encoded it to take its revision
// (EncodedSpec), else it is encoded here.
func mcpResource(ef *translate.EnvoyFilter) (*anypb.Any, error) {
	if b := ef.EncodedSpec(); b != nil {
		// The type from a nil spec: ef.Spec() would decode the patch
		// values, which sending the encoding does not need.
		name := (*networkingv1alpha3.EnvoyFilter)(nil).ProtoReflect().Descriptor().FullName()
		return wrapResource(ef, &anypb.Any{TypeUrl: envoyTypePrefix + string(name), Value: b})
	}
	return encodeResource(ef)
}

// encodeResource is mcpResource encoding the spec with proto.Marshal.
func encodeResource(ef *translate.EnvoyFilter) (*anypb.Any, error) {
	body, err := anypb.New(ef.Spec())
	if err != nil {
		return nil, fmt.Errorf("EnvoyFilter %s/%s: cannot encode the spec: %w", ef.Namespace, ef.Name, err)
	}
	return wrapResource(ef, body)
}

func wrapResource(ef *translate.EnvoyFilter, body *anypb.Any) (*anypb.Any, error) {
	res := &mcp.Resource{
		Metadata: &mcp.Metadata{
			Name:        ef.Namespace + "/" + ef.Name,
			Version:     string(ef.Revision),
			Labels:      ef.Labels,
			Annotations: ef.Annotations,
		},
		Body: body,
	}
	out, err := anypb.New(res)
	if err != nil {
		return nil, fmt.Errorf("EnvoyFilter %s/%s: cannot encode the MCP resource: %w", ef.Namespace, ef.Name, err)
	}
	return out, nil
}
