package server

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestWildcardAnswerReturnsOneEntry: an answer to a wildcard
// subscription (istiod's) records the collection version it was sent
// whole, not a version per resource, which was a map of 20,000 entries
// per answer at 10,000 services; an answer to named resources records
// each name, as before.
func TestWildcardAnswerReturnsOneEntry(t *testing.T) {
	coll := newMCPCollection()
	coll.apply(mcpUpdates(100), nil)
	req := &discoveryv3.DiscoveryRequest{TypeUrl: EnvoyFilterType}
	wild := streamv3.NewSotwSubscription(nil, true)
	resp := sotwResponse(req, &wild, coll)
	if got := resp.GetReturnedResources(); len(got) != 1 || got[wholeCollection] != coll.version {
		t.Errorf("wildcard answer returned %d entries (%v), want only the collection version", len(got), got[wholeCollection])
	}
	if dr, _ := resp.GetDiscoveryResponse(); len(dr.GetResources()) != 100 {
		t.Errorf("wildcard answer holds %d resources, want 100", len(dr.GetResources()))
	}
	named := streamv3.NewSotwSubscription([]string{"ns/ef-003", "ns/ef-007", "ns/missing"}, false)
	if got := sotwResponse(req, &named, coll).GetReturnedResources(); len(got) != 2 || got["ns/ef-003"] != coll.version || got["ns/ef-007"] != coll.version {
		t.Errorf("named answer returned %v, want ns/ef-003 and ns/ef-007 at %s", got, coll.version)
	}
}

func mcpUpdates(n int) []mcpUpdate {
	out := make([]mcpUpdate, n)
	for i := range out {
		out[i] = mcpUpdate{name: fmt.Sprintf("ns/ef-%03d", i), version: "1", res: &anypb.Any{TypeUrl: mcpResourceTypeURL, Value: []byte{byte(i)}}}
	}
	return out
}

// TestSotwSubscriptionChangesAtOneVersion: a client answered whole, then
// asking for named resources, then for all again, all at the
// collection's one version, is answered each time with what it asked for
// (go-control-plane's server over a real gRPC connection), and an ACK of
// the whole collection is not answered.
func TestSotwSubscriptionChangesAtOneVersion(t *testing.T) {
	cache := newMCPCache()
	cache.Apply(EnvoyFilterType, mcpUpdates(100), nil) // more than framedMin: the codec keeps their pieces
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gs := grpc.NewServer(grpc.ForceServerCodecV2(newResponseCodec(EnvoyFilterType)))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(ctx, cache, nil))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ads, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		resp *discoveryv3.DiscoveryResponse
		err  error
	}
	answers := make(chan answer, 4)
	go func() {
		for {
			r, err := ads.Recv()
			answers <- answer{r, err}
			if err != nil {
				return
			}
		}
	}()
	next := func(what string) *discoveryv3.DiscoveryResponse {
		t.Helper()
		select {
		case a := <-answers:
			if a.err != nil {
				t.Fatalf("%s: %v", what, a.err)
			}
			return a.resp
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer", what)
		}
		return nil
	}
	names := func(r *discoveryv3.DiscoveryResponse) int { return len(r.GetResources()) }
	send := func(r *discoveryv3.DiscoveryRequest) {
		t.Helper()
		r.TypeUrl = EnvoyFilterType
		if err := ads.Send(r); err != nil {
			t.Fatal(err)
		}
	}

	send(&discoveryv3.DiscoveryRequest{}) // wildcard, as istiod asks
	whole := next("first request")
	if names(whole) != 100 {
		t.Fatalf("first answer holds %d resources, want 100", names(whole))
	}
	// The ACK: nothing to answer. Then named resources at the same version.
	send(&discoveryv3.DiscoveryRequest{VersionInfo: whole.VersionInfo, ResponseNonce: whole.Nonce})
	send(&discoveryv3.DiscoveryRequest{VersionInfo: whole.VersionInfo, ResponseNonce: whole.Nonce, ResourceNames: []string{"ns/ef-001", "ns/ef-002"}})
	part := next("named request")
	if names(part) != 2 || part.VersionInfo != whole.VersionInfo {
		t.Fatalf("named request answered with %d resources at %s, want 2 at %s (an answer to the ACK first?)", names(part), part.VersionInfo, whole.VersionInfo)
	}
	// All again, explicitly: the client lacks 98 of them.
	send(&discoveryv3.DiscoveryRequest{VersionInfo: part.VersionInfo, ResponseNonce: part.Nonce, ResourceNames: []string{"*"}})
	again := next("wildcard again")
	if names(again) != 100 {
		t.Fatalf("wildcard again answered with %d resources, want 100", names(again))
	}
	// Its ACK is not answered: a change of the collection is the next answer.
	send(&discoveryv3.DiscoveryRequest{VersionInfo: again.VersionInfo, ResponseNonce: again.Nonce, ResourceNames: []string{"*"}})
	cache.Apply(EnvoyFilterType, []mcpUpdate{{name: "ns/ef-000", version: "2", res: &anypb.Any{TypeUrl: mcpResourceTypeURL, Value: []byte("changed")}}}, nil)
	changed := next("after a change")
	if changed.VersionInfo == again.VersionInfo || names(changed) != 100 {
		t.Errorf("after a change: %d resources at %s (the ACK was answered?), want 100 at a new version", names(changed), changed.VersionInfo)
	}
	if string(changed.GetResources()[0].GetValue()) != "changed" {
		t.Errorf("after a change the first resource is %q, want the new one", changed.GetResources()[0].GetValue())
	}
}
