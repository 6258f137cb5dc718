package aeraki

import (
	"fmt"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	mcp "istio.io/api/mcp/v1alpha1"
)

// TestParseMCPVersions checks the kube benchmark's wire reader against
// proto.Unmarshal of the same answer: if it misread a version, the
// benchmark's edit latencies would be measured against the wrong answer.
func TestParseMCPVersions(t *testing.T) {
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: "v7", TypeUrl: "networking.istio.io/v1alpha3/EnvoyFilter", Nonce: "n3"}
	for i := range 50 {
		body, _ := anypb.New(&structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue(strings.Repeat("x", i))}})
		res := &mcp.Resource{Metadata: &mcp.Metadata{
			Name: fmt.Sprintf("ns-%d/aeraki-%d", i%3, i), Version: fmt.Sprintf("rev-%d", i*7),
			CreateTime: timestamppb.Now(), Labels: map[string]string{"a": "b", "version": "not-this"},
			Annotations: map[string]string{"name": "not-this"},
		}, Body: body}
		a, err := anypb.New(res)
		if err != nil {
			t.Fatal(err)
		}
		resp.Resources = append(resp.Resources, a)
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseMCPVersions(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.version != "v7" || got.nonce != "n3" || got.typeURL != resp.TypeUrl {
		t.Errorf("version, nonce, type = %q %q %q", got.version, got.nonce, got.typeURL)
	}
	want := map[string]string{}
	for _, a := range resp.Resources {
		res := &mcp.Resource{}
		if err := a.UnmarshalTo(res); err != nil {
			t.Fatal(err)
		}
		n := res.GetMetadata().GetName()
		want[n[strings.Index(n, "/")+1:]] = res.GetMetadata().GetVersion()
	}
	if fmt.Sprint(got.versions) != fmt.Sprint(want) {
		t.Errorf("versions:\n got %v\nwant %v", got.versions, want)
	}
	if _, err := parseMCPVersions(b[:len(b)-3]); err == nil {
		t.Error("a truncated answer parsed without an error")
	}
}
