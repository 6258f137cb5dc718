// Package source defines how sources feed aeraki: a source watches some
// store of objects (a directory, a Kubernetes API server) and delivers a
// fresh model.Snapshot after every change. Nothing after a source knows
// which source produced a snapshot.
package source

import (
	"context"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Update is what a source delivers after a change.
type Update struct {
	// Snapshot is the whole mesh after the change.
	Snapshot *model.Snapshot
	// Diagnostics are the source's own findings (unreadable files,
	// malformed documents, duplicates), to merge with the translation's.
	Diagnostics []model.Diagnostic
}

// Source delivers snapshots until its context ends.
type Source interface {
	// Run sends an Update on updates once the source has read everything,
	// and again after every change (debounced as the source sees fit). It
	// returns when ctx is done, or with an error when it cannot go on.
	Run(ctx context.Context, updates chan<- Update) error
}
