package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Two configs that differ only in bytes that are not valid UTF-8 (here a
// port whose varint encoding is 0x95 0x84 0x02 vs 0xa3 0xd3 0x02) must get
// different revisions, or the change is never served.
func TestRevisionSeesEveryByte(t *testing.T) {
	proxy := func(port uint32) *plugin.Proxy {
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}}}}}
		return &plugin.Proxy{ID: "p", Clusters: []*clusterv3.Cluster{{Name: "c"}}, Endpoints: []*endpointv3.ClusterLoadAssignment{cla}}
	}
	if a, b := proxyRevision(proxy(33301)), proxyRevision(proxy(43427)); a == b {
		t.Fatalf("ports 33301 and 43427 give the same proxy revision %s", a)
	}
	if a, b := proxyRevision(proxy(33301)), proxyRevision(proxy(33301)); a != b {
		t.Fatalf("the same proxy gives revisions %s and %s", a, b)
	}
}

// Configs that do not marshal (a string that is not valid UTF-8) still get
// revisions that tell them apart and repeat for equal input. Marshal stops
// at the bad field, so hashing its output gave every config that differs
// only after that field one revision: the change was never served.
func TestRevisionOfUnmarshalableConfig(t *testing.T) {
	proxy := func(stat string) *plugin.Proxy {
		return &plugin.Proxy{ID: "p", Clusters: []*clusterv3.Cluster{{Name: "c-\xff", AltStatName: stat}}}
	}
	a, b := proxyRevision(proxy("a")), proxyRevision(proxy("b"))
	if a == b {
		t.Fatalf("clusters that differ after an invalid name give the same revision %s", a)
	}
	if again := proxyRevision(proxy("a")); again != a {
		t.Fatalf("the same config gives revisions %s and %s", a, again)
	}
}

// An EnvoyFilter's revision is taken from its Structs' values: the same
// content gives the same revision however its maps were filled, and a
// change anywhere in a patch value (a nested number, a string moved
// between fields, a list cut short) gives another.
func TestEnvoyFilterRevisionOfStructs(t *testing.T) {
	spec := func(edit func(map[string]any)) *EnvoyFilter {
		v := map[string]any{
			"name": "envoy.filters.network.dubbo_proxy",
			"typedConfig": map[string]any{
				"@type": "type.googleapis.com/x", "statPrefix": "a", "weights": []any{90.0, 10.0},
				"route": map[string]any{"cluster": "c", "timeout": "1s", "retry": true, "none": nil},
			},
		}
		if edit != nil {
			edit(v)
		}
		s, err := structpb.NewStruct(v)
		if err != nil {
			t.Fatal(err)
		}
		return &EnvoyFilter{Namespace: "ns", Name: "ef", Labels: map[string]string{"a": "b"}, spec: &networkingv1alpha3.EnvoyFilter{
			ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{{
				ApplyTo: networkingv1alpha3.EnvoyFilter_NETWORK_FILTER,
				Patch:   &networkingv1alpha3.EnvoyFilter_Patch{Operation: networkingv1alpha3.EnvoyFilter_Patch_REPLACE, Value: s},
			}},
		}}
	}
	base := envoyFilterRevision(spec(nil), nil)
	for range 20 { // map iteration order differs between runs
		if again := envoyFilterRevision(spec(nil), nil); again != base {
			t.Fatalf("the same EnvoyFilter gives revisions %s and %s", base, again)
		}
	}
	tc := func(m map[string]any) map[string]any { return m["typedConfig"].(map[string]any) }
	for name, edit := range map[string]func(map[string]any){
		"nested number":     func(m map[string]any) { tc(m)["weights"] = []any{80.0, 20.0} },
		"list cut short":    func(m map[string]any) { tc(m)["weights"] = []any{90.0} },
		"nested string":     func(m map[string]any) { tc(m)["route"].(map[string]any)["cluster"] = "d" },
		"bool":              func(m map[string]any) { tc(m)["route"].(map[string]any)["retry"] = false },
		"null to string":    func(m map[string]any) { tc(m)["route"].(map[string]any)["none"] = "" },
		"key renamed":       func(m map[string]any) { tc(m)["statprefix"] = tc(m)["statPrefix"]; delete(tc(m), "statPrefix") },
		"field moved out":   func(m map[string]any) { m["cluster"] = "c"; delete(tc(m)["route"].(map[string]any), "cluster") },
		"number as string":  func(m map[string]any) { tc(m)["weights"] = []any{"90", 10.0} },
		"empty struct":      func(m map[string]any) { tc(m)["route"] = map[string]any{} },
		"struct to list":    func(m map[string]any) { tc(m)["route"] = []any{} },
		"string to a value": func(m map[string]any) { m["name"] = "envoy.filters.network.tcp_proxy" },
	} {
		if got := envoyFilterRevision(spec(edit), nil); got == base {
			t.Errorf("%s: the changed EnvoyFilter keeps revision %s", name, got)
		}
	}
	changed := spec(nil)
	changed.spec.ConfigPatches[0].Patch.Operation = networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE
	if envoyFilterRevision(changed, nil) == base {
		t.Errorf("a changed patch operation keeps the revision")
	}
}

// The revision hashes the spec as specEncoder writes it (by hand, field
// by field): a field Istio's API adds to the spec or a patch would be left
// out, and a change to it never served nor sent. This lists the fields
// the encoder writes, with their numbers; add a new one there, then here.
func TestEnvoyFilterRevisionCoversEveryField(t *testing.T) {
	for msg, want := range map[proto.Message][]string{
		&networkingv1alpha3.EnvoyFilter{}:                        {"3 workload_selector", "6 targetRefs", "4 config_patches", "5 priority"},
		&networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{}: {"1 apply_to", "2 match", "3 patch"},
		&networkingv1alpha3.EnvoyFilter_Patch{}:                  {"1 operation", "2 value", "3 filter_class"},
		&structpb.Struct{}:                                       {"1 fields"},
		&structpb.Value{}:                                        {"1 null_value", "2 number_value", "3 string_value", "4 bool_value", "5 struct_value", "6 list_value"},
		&structpb.ListValue{}:                                    {"1 values"},
	} {
		fields := msg.ProtoReflect().Descriptor().Fields()
		var got []string
		for i := range fields.Len() {
			got = append(got, strconv.Itoa(int(fields.Get(i).Number()))+" "+string(fields.Get(i).Name()))
		}
		if !sameSet(got, want) {
			t.Errorf("%s has fields %v, specEncoder writes %v: encode the new field in specenc.go", msg.ProtoReflect().Descriptor().FullName(), got, want)
		}
	}
	// And each copied field counts.
	base := &networkingv1alpha3.EnvoyFilter{ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{{
		ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER, Patch: &networkingv1alpha3.EnvoyFilter_Patch{Operation: networkingv1alpha3.EnvoyFilter_Patch_MERGE}}}}
	rev := func(spec *networkingv1alpha3.EnvoyFilter) model.Revision {
		return envoyFilterRevision(&EnvoyFilter{Namespace: "ns", Name: "ef", spec: spec}, nil)
	}
	edits := map[string]func(*networkingv1alpha3.EnvoyFilter){
		"workload_selector": func(s *networkingv1alpha3.EnvoyFilter) {
			s.WorkloadSelector = &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": "a"}}
		},
		"targetRefs": func(s *networkingv1alpha3.EnvoyFilter) {
			s.TargetRefs = []*typev1beta1.PolicyTargetReference{{Kind: "Gateway", Name: "w"}}
		},
		"priority": func(s *networkingv1alpha3.EnvoyFilter) { s.Priority = 3 },
		"apply_to": func(s *networkingv1alpha3.EnvoyFilter) {
			s.ConfigPatches[0].ApplyTo = networkingv1alpha3.EnvoyFilter_LISTENER
		},
		"match": func(s *networkingv1alpha3.EnvoyFilter) {
			s.ConfigPatches[0].Match = &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{}
		},
		"operation": func(s *networkingv1alpha3.EnvoyFilter) {
			s.ConfigPatches[0].Patch.Operation = networkingv1alpha3.EnvoyFilter_Patch_ADD
		},
		"value": func(s *networkingv1alpha3.EnvoyFilter) { s.ConfigPatches[0].Patch.Value = &structpb.Struct{} },
		"filter_class": func(s *networkingv1alpha3.EnvoyFilter) {
			s.ConfigPatches[0].Patch.FilterClass = networkingv1alpha3.EnvoyFilter_Patch_AUTHN
		},
		"patch":        func(s *networkingv1alpha3.EnvoyFilter) { s.ConfigPatches[0].Patch = nil },
		"a patch more": func(s *networkingv1alpha3.EnvoyFilter) { s.ConfigPatches = append(s.ConfigPatches, s.ConfigPatches[0]) },
	}
	for name, edit := range edits {
		s := proto.Clone(base).(*networkingv1alpha3.EnvoyFilter)
		edit(s)
		if rev(s) == rev(base) {
			t.Errorf("changing %s keeps the revision", name)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

// The parts of a revision are hashed as one length-prefixed stream,
// whether a part is buffered or (from directPart bytes) written to the
// hash directly: the same parts give the revision a single SHA-256 of
// that stream gives, so no revision changed when large parts stopped
// being copied.
func TestRevisionHashOfLargeParts(t *testing.T) {
	parts := [][]byte{[]byte("ns"), make([]byte, directPart-1), make([]byte, directPart), []byte("x"), make([]byte, 20<<10)}
	for i, p := range parts {
		for j := range p {
			p[j] = byte(i*7 + j)
		}
	}
	h := newRevisionHash()
	var stream []byte
	for i, p := range parts {
		if i%2 == 0 {
			h.bytes(p)
		} else {
			h.str(string(p))
		}
		stream = binary.AppendUvarint(stream, uint64(len(p)))
		stream = append(stream, p...)
	}
	sum := sha256.Sum256(stream)
	if got, want := h.revision(), model.Revision(hex.EncodeToString(sum[:8])); got != want {
		t.Fatalf("revision of the parts %s, the stream's SHA-256 gives %s", got, want)
	}
}
