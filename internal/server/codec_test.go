package server

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// randomResponse is a DiscoveryResponse with every field the codec
// treats apart: resources small and large (by reference), with and
// without a type URL or value, one with unknown fields, and the fields
// before and after resources.
func randomResponse(rng *rand.Rand) *discoveryv3.DiscoveryResponse {
	r := &discoveryv3.DiscoveryResponse{}
	if rng.IntN(2) == 0 {
		r.VersionInfo = fmt.Sprintf("v%d", rng.IntN(1000))
	}
	if rng.IntN(2) == 0 {
		r.TypeUrl = "networking.istio.io/v1alpha3/EnvoyFilter"
	}
	r.Nonce = fmt.Sprint(rng.IntN(100))
	r.Canary = rng.IntN(4) == 0
	if rng.IntN(3) == 0 {
		r.ControlPlane = &corev3.ControlPlane{Identifier: "aeraki"}
	}
	if rng.IntN(4) == 0 {
		r.ResourceErrors = []*discoveryv3.ResourceError{{ResourceName: &discoveryv3.ResourceName{Name: "x"}}}
	}
	for range rng.IntN(8) {
		a := &anypb.Any{}
		if rng.IntN(5) != 0 {
			a.TypeUrl = "type.googleapis.com/istio.mcp.v1alpha1.Resource"
		}
		switch rng.IntN(4) {
		case 0: // empty value
		case 1:
			a.Value = bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(refMin))
		default:
			a.Value = bytes.Repeat([]byte{byte(rng.IntN(256))}, refMin+rng.IntN(200_000))
		}
		if rng.IntN(10) == 0 {
			a.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 9, protowire.BytesType), "later field"))
		}
		r.Resources = append(r.Resources, a)
	}
	return r
}

// TestResponseCodecWritesWhatProtoMarshalWrites: what goes on the wire
// with resources sent by reference is byte for byte proto.Marshal's.
func TestResponseCodecWritesWhatProtoMarshalWrites(t *testing.T) {
	c := newResponseCodec()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		r := randomResponse(rng)
		want, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if b := got.Materialize(); !bytes.Equal(b, want) {
			t.Fatalf("response %d: codec wrote %d bytes, proto.Marshal %d; differ at %d", i, len(b), len(want), firstDiff(b, want))
		}
	}
	// Anything else is the proto codec's.
	req := &discoveryv3.DiscoveryRequest{TypeUrl: "t", VersionInfo: "v"}
	got, err := c.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := proto.Marshal(req); !bytes.Equal(got.Materialize(), want) {
		t.Error("a DiscoveryRequest is not written as proto.Marshal writes it")
	}
}

// TestResponseCodecFramedAnswers: answers of many resources are written
// from pieces kept per resource, byte for byte proto.Marshal's, across
// answers that share resources, an Any changed in place, resources
// replaced; a later answer of the same resources allocates only its list
// of pieces; and the pieces of resources no answer sends any more are
// forgotten.
func TestResponseCodecFramedAnswers(t *testing.T) {
	c := newResponseCodec(EnvoyFilterType)
	rng := rand.New(rand.NewPCG(5, 6))
	r := &discoveryv3.DiscoveryResponse{VersionInfo: "v1", TypeUrl: EnvoyFilterType, Nonce: "1"}
	for len(r.Resources) < 3*framedMin {
		r.Resources = append(r.Resources, randomResponse(rng).Resources...)
	}
	for i := 0; i < len(r.Resources); i++ { // unknown fields take the proto codec's path
		if len(r.Resources[i].ProtoReflect().GetUnknown()) > 0 {
			r.Resources = append(r.Resources[:i], r.Resources[i+1:]...)
			i--
		}
	}
	check := func(what string) {
		t.Helper()
		want, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if b := got.Materialize(); !bytes.Equal(b, want) {
			t.Fatalf("%s: codec wrote %d bytes, proto.Marshal %d; differ at %d", what, len(b), len(want), firstDiff(b, want))
		}
	}
	check("first answer")
	check("the same again")
	r.Nonce, r.VersionInfo = "2", "v2"
	r.Resources[0].Value = append([]byte(nil), "changed in place"...)
	r.Resources[1].TypeUrl = "type.googleapis.com/other"
	r.Resources[2] = &anypb.Any{TypeUrl: "type.googleapis.com/istio.mcp.v1alpha1.Resource", Value: bytes.Repeat([]byte("x"), 5000)}
	check("after changes")

	allocs := testing.AllocsPerRun(10, func() {
		if _, err := c.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
	// The head and tail are marshalled per answer; nothing is per resource.
	if allocs > float64(len(r.Resources))/8 {
		t.Errorf("an answer of %d resources already framed allocates %.0f times, want fewer than one per 8 resources", len(r.Resources), allocs)
	}

	other := &discoveryv3.DiscoveryResponse{TypeUrl: EnvoyFilterType}
	for range framedMin {
		other.Resources = append(other.Resources, &anypb.Any{TypeUrl: "t", Value: []byte("v")})
	}
	for range 2 * framedKeep {
		if _, err := c.Marshal(other); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	kept := len(c.framed)
	c.mu.Unlock()
	if kept != framedMin {
		t.Errorf("after %d answers without them, %d pieces kept, want only the %d of the answers sent", 2*framedKeep, kept, framedMin)
	}
	check("after they were forgotten")

	// Answers of other types (proxies') are written without keeping
	// anything.
	plain := newResponseCodec()
	if _, err := plain.Marshal(r); err != nil {
		t.Fatal(err)
	}
	if len(plain.framed) != 0 {
		t.Errorf("a codec keeping no type kept %d pieces", len(plain.framed))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// echoADS answers each request with the response it was built with.
type echoADS struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	resp *discoveryv3.DiscoveryResponse
}

func (e echoADS) StreamAggregatedResources(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	if _, err := s.Recv(); err != nil {
		return err
	}
	return s.Send(e.resp)
}

// TestResponseCodecOverGRPC: a real gRPC client with the stock proto
// codec decodes a server's response written by the codec, large values
// (sent by reference, split across HTTP/2 frames) included.
func TestResponseCodecOverGRPC(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	want := randomResponse(rng)
	for len(want.Resources) < 3 {
		want = randomResponse(rng)
	}
	want.Resources = append(want.Resources, &anypb.Any{TypeUrl: "type.googleapis.com/x", Value: []byte(strings.Repeat("large", 200_000))})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ForceServerCodecV2(newResponseCodec()))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, echoADS{resp: want})
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: want.TypeUrl}); err != nil {
		t.Fatal(err)
	}
	got, err := stream.Recv()
	if err != nil {
		t.Fatalf("receiving: %v", status.Convert(err))
	}
	if !proto.Equal(want, got) {
		t.Errorf("the client decoded another response: sent %d resources, %d bytes; received %d resources, %d bytes",
			len(want.Resources), proto.Size(want), len(got.Resources), proto.Size(got))
	}
}

// BenchmarkResponseCodecMCPAnswer is one MCP answer of 20,000
// EnvoyFilters of 0.6-1.6 KB (what 10,000 Dubbo services make): what
// writing it costs the server on the path from an edit to istiod, beside
// proto.Marshal of the same response.
func BenchmarkResponseCodecMCPAnswer(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := &discoveryv3.DiscoveryResponse{VersionInfo: "v1", TypeUrl: EnvoyFilterType, Nonce: "1"}
	for range 20_000 {
		v := make([]byte, 600+rng.IntN(1000))
		for i := range v {
			v[i] = byte(rng.IntN(256))
		}
		r.Resources = append(r.Resources, &anypb.Any{TypeUrl: "type.googleapis.com/istio.mcp.v1alpha1.Resource", Value: v})
	}
	b.Run("codec", func(b *testing.B) {
		c := newResponseCodec(EnvoyFilterType)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	// As an edit's answer is: the previous answer with one resource
	// replaced.
	b.Run("codec,one-changed", func(b *testing.B) {
		c := newResponseCodec(EnvoyFilterType)
		if _, err := c.Marshal(r); err != nil {
			b.Fatal(err)
		}
		edited := proto.CloneOf(r)
		edited.Resources = slices.Clone(r.Resources)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			a := r.Resources[i%len(r.Resources)]
			edited.Resources[i%len(r.Resources)] = &anypb.Any{TypeUrl: a.TypeUrl, Value: a.Value}
			if _, err := c.Marshal(edited); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proto.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
