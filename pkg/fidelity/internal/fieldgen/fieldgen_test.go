package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestGeneratedTableIsCurrent regenerates the not-implemented table from
// the go-control-plane version go.mod pins (in the module cache) and
// compares it with the committed file: a go-control-plane bump that
// changes Envoy's markers fails here until the table is regenerated with
// `go run ./pkg/fidelity/internal/fieldgen`.
func TestGeneratedTableIsCurrent(t *testing.T) {
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, Output))
	if err != nil {
		t.Fatalf("%v; run `go run ./pkg/fidelity/internal/fieldgen` from the repository root", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale for the pinned %s: run `go run ./pkg/fidelity/internal/fieldgen` from the repository root and review the diff", Output, Module)
	}
	// The field the whole table exists for.
	if !regexp.MustCompile(`"envoy\.extensions\.filters\.network\.generic_proxy\.action\.v3\.RouteAction\.weighted_clusters": +"\[#not-implemented-hide:\]"`).Match(got) {
		t.Error("generic_proxy's weighted_clusters is not in the table")
	}
}

// TestCamelFollowsProtocGenGo checks the Go naming the table relies on.
func TestCamelFollowsProtocGenGo(t *testing.T) {
	for in, want := range map[string]string{
		"weighted_clusters": "WeightedClusters", "HTTPFault": "HTTPFault", "foo_bar2baz": "FooBar2Baz",
		"_private": "XPrivate", "v3": "V3", "a_B": "A_B",
	} {
		if got := camel(in); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
}
