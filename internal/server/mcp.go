package server

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
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
	name string // "<namespace>/<name>", the entry's key
	ef   *translate.EnvoyFilter
	res  anypb.Any // Any(istio.mcp.v1alpha1.Resource), in the entry's allocation
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
// (EncodedSpec), else it is encoded here. The translator's encoding left
// room for the resource's head before the spec (EnvoyFilter.Framed): the
// resource is then a slice of the spec's own buffer, not a copy of it.
func mcpResource(ef *translate.EnvoyFilter) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := setMCPResource(a, ef); err != nil {
		return nil, err
	}
	return a, nil
}

// setMCPResource makes dst, an empty Any, mcpResource(ef).
func setMCPResource(dst *anypb.Any, ef *translate.EnvoyFilter) error {
	var a *anypb.Any
	var err error
	if spec := ef.EncodedSpec(); spec == nil {
		a, err = encodeResource(ef)
	} else {
		var buf [512]byte // on the stack for the usual heads; Framed copies it
		if head, ok := appendResourceHead(buf[:0], ef, len(spec)); ok {
			dst.TypeUrl, dst.Value = mcpResourceTypeURL, ef.Framed(head)
			return nil
		}
		a, err = wrapResource(ef, &anypb.Any{TypeUrl: envoyFilterTypeURL, Value: spec})
	}
	if err != nil {
		return err
	}
	dst.TypeUrl, dst.Value = a.TypeUrl, a.Value
	return nil
}

// The type URLs of the Any that is the MCP resource and of its body, the
// EnvoyFilter spec (from nil messages: ef.Spec() would decode the spec
// from its encoding, which sending the encoding does not need).
var (
	mcpResourceTypeURL = envoyTypePrefix + string((*mcp.Resource)(nil).ProtoReflect().Descriptor().FullName())
	envoyFilterTypeURL = envoyTypePrefix + string((*networkingv1alpha3.EnvoyFilter)(nil).ProtoReflect().Descriptor().FullName())
)

// Field numbers of istio.mcp.v1alpha1.Resource and Metadata
// (mcp/v1alpha1/resource.proto, metadata.proto) and google.protobuf.Any.
const (
	resMetadata    protowire.Number = 1
	resBody        protowire.Number = 2
	metaName       protowire.Number = 1
	metaVersion    protowire.Number = 3
	metaLabels     protowire.Number = 4
	metaAnnotation protowire.Number = 5
	anyTypeURL     protowire.Number = 1
	anyValue       protowire.Number = 2
	mapKey         protowire.Number = 1
	mapValue       protowire.Number = 2
)

// appendResource is the deterministic encoding of the mcp.Resource that
// wrapResource builds around spec (the encoded EnvoyFilter spec), written
// directly into one buffer of its exact size: anypb.New would build the
// Resource, size it through reflection, copy the map entries and then
// the spec. The bytes are proto.MarshalOptions{Deterministic: true}'s
// (TestAppendResourceIsProtoMarshal). ok is false when a string is not
// UTF-8, which proto.Marshal refuses (wrapResource then says so).
func appendResource(ef *translate.EnvoyFilter, spec []byte) (b []byte, ok bool) {
	size, ok := resourceHeadSize(ef, len(spec))
	if !ok {
		return nil, false
	}
	b, _ = appendResourceHead(make([]byte, 0, size+len(spec)), ef, len(spec))
	return append(b, spec...), true
}

// resourceHeadSize is the size of what appendResourceHead appends.
func resourceHeadSize(ef *translate.EnvoyFilter, specLen int) (int, bool) {
	var keys [8]string
	meta, _, ok := resourceMeta(ef, keys[:0])
	if !ok {
		return 0, false
	}
	return messageFieldSize(resMetadata, meta) + messageFieldSize(resBody, resourceBodySize(specLen)) - specLen, true
}

// resourceMeta is the size of the resource's metadata and the sorted keys
// of ef's labels (appended to buf; its annotations come sorted); ok is
// false when a string is not UTF-8.
func resourceMeta(ef *translate.EnvoyFilter, buf []string) (size int, labels []string, ok bool) {
	if !utf8.ValidString(ef.Namespace) || !utf8.ValidString(ef.Name) || !utf8.ValidString(string(ef.Revision)) {
		return 0, nil, false
	}
	size = stringFieldSize(metaName, len(ef.Namespace)+1+len(ef.Name)) + stringFieldSize(metaVersion, len(ef.Revision))
	if labels, ok = sortedKeys(buf, ef.Labels); !ok {
		return 0, nil, false
	}
	size += mapSize(metaLabels, ef.Labels, labels)
	ef.EachAnnotation(func(k, v string) {
		ok = ok && utf8.ValidString(k) && utf8.ValidString(v)
		size += messageFieldSize(metaAnnotation, mapEntrySize(k, v))
	})
	if !ok {
		return 0, nil, false
	}
	return size, labels, true
}

// resourceBodySize is the size of the resource's body, the Any of a spec
// of specLen bytes.
func resourceBodySize(specLen int) int {
	return stringFieldSize(anyTypeURL, len(envoyFilterTypeURL)) + stringFieldSize(anyValue, specLen)
}

// appendResourceHead appends appendResource's bytes up to the spec's: all
// of the resource but the last specLen bytes.
func appendResourceHead(b []byte, ef *translate.EnvoyFilter, specLen int) ([]byte, bool) {
	var keys [8]string // on the stack for the few labels and annotations an EnvoyFilter has
	meta, labels, ok := resourceMeta(ef, keys[:0])
	if !ok {
		return b, false
	}
	b = protowire.AppendTag(b, resMetadata, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(meta))
	if nsName := len(ef.Namespace) + 1 + len(ef.Name); nsName > 0 {
		b = protowire.AppendTag(b, metaName, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(nsName))
		b = append(append(append(b, ef.Namespace...), '/'), ef.Name...)
	}
	b = appendStringField(b, metaVersion, string(ef.Revision))
	b = appendMap(b, metaLabels, ef.Labels, labels)
	ef.EachAnnotation(func(k, v string) { b = appendMapEntry(b, metaAnnotation, k, v) })

	b = protowire.AppendTag(b, resBody, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(resourceBodySize(specLen)))
	b = appendStringField(b, anyTypeURL, envoyFilterTypeURL)
	if specLen > 0 {
		b = protowire.AppendTag(b, anyValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(specLen))
	}
	return b, true
}

// sortedKeys appends m's keys to buf, sorted; ok is false when a key or
// value is not UTF-8.
func sortedKeys(buf []string, m map[string]string) ([]string, bool) {
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, false
		}
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf, true
}

// stringFieldSize is the size of a proto3 string field of n bytes: nothing
// when it is empty.
func stringFieldSize(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// messageFieldSize is the size of a message field whose content is n bytes.
func messageFieldSize(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// mapEntrySize is the content size of a map<string, string> entry: its key
// and value are written even when empty.
func mapEntrySize(k, v string) int {
	return protowire.SizeTag(mapKey) + protowire.SizeBytes(len(k)) + protowire.SizeTag(mapValue) + protowire.SizeBytes(len(v))
}

func mapSize(num protowire.Number, m map[string]string, keys []string) int {
	n := 0
	for _, k := range keys {
		n += messageFieldSize(num, mapEntrySize(k, m[k]))
	}
	return n
}

// appendMap writes a map<string, string> field, entries in key order.
func appendMap(b []byte, num protowire.Number, m map[string]string, keys []string) []byte {
	for _, k := range keys {
		b = appendMapEntry(b, num, k, m[k])
	}
	return b
}

// appendMapEntry writes one entry of a map<string, string> field.
func appendMapEntry(b []byte, num protowire.Number, k, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(mapEntrySize(k, v)))
	b = protowire.AppendTag(b, mapKey, protowire.BytesType)
	b = protowire.AppendString(b, k)
	b = protowire.AppendTag(b, mapValue, protowire.BytesType)
	return protowire.AppendString(b, v)
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
			Name:        ef.Key(),
			Version:     string(ef.Revision),
			Labels:      ef.Labels,
			Annotations: ef.Annotations(),
		},
		Body: body,
	}
	out, err := anypb.New(res)
	if err != nil {
		return nil, fmt.Errorf("EnvoyFilter %s/%s: cannot encode the MCP resource: %w", ef.Namespace, ef.Name, err)
	}
	return out, nil
}
