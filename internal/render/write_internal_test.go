package render

import (
	"bytes"
	"context"
	"testing"
)

// TestWriteStopsWhenTheContextEnds: a signal during a long write stops
// it between two documents.
func TestWriteStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := writeStream(ctx, &bytes.Buffer{}, 1000, func(int) map[string]any {
		n++
		if n == 3 {
			cancel()
		}
		return map[string]any{"n": n}
	}, "yaml")
	if err != context.Canceled || n != 3 {
		t.Fatalf("want context.Canceled after 3 documents, got %v after %d", err, n)
	}
}
