package xds_test

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// TestMustAnyIsDeterministic: a message with a map packs to the same bytes
// every time, so a proxy rebuilt with unchanged config keeps its revision
// (and delta clients are not sent resources that did not change).
func TestMustAnyIsDeterministic(t *testing.T) {
	fields := map[string]any{}
	for i := range 50 {
		fields[fmt.Sprintf("key-%02d", i)] = i
	}
	s, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	first := xds.MustAny(s).Value
	for range 20 {
		if again := xds.MustAny(s).Value; !bytes.Equal(again, first) {
			t.Fatal("packing the same Struct twice gave different bytes")
		}
	}
}
