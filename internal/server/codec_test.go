package server

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
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
		c := newResponseCodec()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Marshal(r); err != nil {
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
