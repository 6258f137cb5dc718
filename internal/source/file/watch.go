package file

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// DefaultDebounce is how long a Watcher waits for the directory to go
// quiet before it reloads: long enough to coalesce an editor's
// write-rename-chmod burst or a `cp -r`, short enough to feel immediate.
const DefaultDebounce = 100 * time.Millisecond

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	// Dir is the directory of manifests to serve. Required.
	Dir string
	// Model carries the mesh settings snapshots are built with.
	Model model.Options
	// File carries the default namespace for objects that name none.
	File Options
	// Debounce is the quiet period after a change before the directory is
	// reloaded; DefaultDebounce when zero. A steady stream of changes
	// still reloads at least every 10 debounce periods (and at least once a
	// second), so a busy directory cannot starve the mesh of updates.
	Debounce time.Duration
	// BurstStarted, when not nil, is called on the source's goroutine when
	// a change starts a debounce period, before the wait: where the serve
	// command's collection pacer (internal/gcpace) collects.
	BurstStarted func()
	// Log receives structured logs; logr.Discard() when unset.
	Log logr.Logger
}

// Watcher is the source.Source of `aeraki serve --config-dir`: it watches
// a directory tree with fsnotify and, after every change, reloads the whole
// tree into a fresh snapshot.
//
// Reloading everything rather than patching the previous snapshot keeps
// the file source trivially correct (renames, deletes, objects moving
// between files, duplicates) and is cheap next to translation, which only
// rebuilds what the new snapshot changed.
//
// Directories are watched, not files, so editors that save by writing a
// temporary file and renaming it over the original, and Kubernetes
// ConfigMap volumes that swap a ..data symlink, are both seen. New
// subdirectories are watched as they appear; hidden ones are skipped, as
// List skips them.
type Watcher struct {
	opts WatcherOptions
	dir  string
}

var _ source.Source = (*Watcher)(nil)

// NewWatcher checks that opts.Dir is a readable directory and returns a
// Watcher for it; nothing is watched until Run.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	if opts.Dir == "" {
		return nil, errors.New("config directory: no directory given")
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("config directory %s: %w", opts.Dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("config directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("config directory %s is a file; pass the directory that holds it", opts.Dir)
	}
	if _, err := List(abs); err != nil {
		return nil, err
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	return &Watcher{opts: opts, dir: filepath.Clean(abs)}, nil
}

// Run implements source.Source. It sends the initial snapshot, then one
// per debounced burst of changes. When the consumer is slower than the
// changes, only the newest snapshot is delivered. It returns nil when ctx
// ends, and an error when the directory can no longer be watched (it was
// removed or renamed, or the initial load failed).
func (w *Watcher) Run(ctx context.Context, updates chan<- source.Update) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config directory %s: cannot watch for changes: %w", w.dir, err)
	}
	defer fw.Close()
	// Watch before the first load, so a change made during it is not missed.
	if err := w.watchTree(fw, w.dir); err != nil {
		return err
	}
	cache := newLoadCache()
	first, err := w.load(ctx, cache)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	w.opts.Log.Info("watching config directory", "dir", w.dir, "debounce", w.opts.Debounce)

	pending, out := first, updates // out is nil while nothing waits to be sent
	debounce := source.NewDebouncer(w.opts.Debounce, w.opts.BurstStarted)
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case out <- pending:
			out, pending = nil, source.Update{}
		case ev, ok := <-fw.Events:
			if !ok {
				return fmt.Errorf("config directory %s: the file watcher stopped", w.dir)
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if filepath.Clean(ev.Name) == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				return fmt.Errorf("config directory %s was removed or renamed, so aeraki can no longer watch it; restore it and restart aeraki (the last good config was served until now)", w.dir)
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() && !w.hidden(ev.Name) {
					if err := w.watchTree(fw, ev.Name); err != nil {
						w.opts.Log.Error(err, "cannot watch new subdirectory; changes in it are seen only with other changes", "dir", ev.Name)
					}
				}
			}
			w.opts.Log.V(2).Info("config directory changed", "event", ev.String())
			debounce.Changed()
		case err, ok := <-fw.Errors:
			if !ok {
				return fmt.Errorf("config directory %s: the file watcher stopped", w.dir)
			}
			// An overflow means events were lost; a full reload recovers.
			w.opts.Log.Error(err, "file watcher error; reloading the config directory", "dir", w.dir)
			debounce.Changed()
		case <-debounce.C():
			debounce.Fired()
			u, err := w.load(ctx, cache)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				w.opts.Log.Error(err, "cannot reload the config directory; still serving the last good config", "dir", w.dir)
				continue
			}
			pending, out = u, updates
		}
	}
}

// loadCache is what one load keeps for the next: the decoded documents of
// each file, and the revisions of the objects in them, so a file that did
// not change is neither decoded nor hashed again.
type loadCache struct {
	files     map[string]decodedFile
	revisions *model.RevisionMemo
	// last is the previous load's snapshot: the next is derived from it
	// (model.Builder.BuildFrom), re-indexing only the objects that changed.
	last *model.Snapshot
}

func newLoadCache() *loadCache {
	return &loadCache{files: map[string]decodedFile{}, revisions: model.NewRevisionMemo()}
}

// decodedFile is a file's documents as last decoded, kept while the file's
// content is unchanged.
type decodedFile struct {
	sum  [sha256.Size]byte
	docs []document
}

// load reads the directory into a fresh snapshot, as Load does, except
// that files whose content did not change since the previous load (cache)
// are not decoded, nor their objects hashed, again: a change usually
// touches one file. cache is updated in place. It returns ctx's error,
// and no snapshot, when ctx ends first.
func (w *Watcher) load(ctx context.Context, cache *loadCache) (source.Update, error) {
	start := time.Now()
	files, err := list(ctx, w.dir, true)
	if err != nil {
		return source.Update{}, err
	}
	r := newReader(ctx, w.opts.File)
	b := model.NewBuilder(w.opts.Model)
	b.UseRevisionMemo(cache.revisions)
	var diags []model.Diagnostic
	seen := make(map[string]bool, len(files))
	decoded := 0
	for _, rel := range files {
		seen[rel] = true
		data, note := r.read(filepath.Join(w.dir, rel), rel)
		if err := ctx.Err(); err != nil {
			return source.Update{}, err
		}
		if note != nil {
			diags = append(diags, *note)
			delete(cache.files, rel)
			continue
		}
		sum := sha256.Sum256(data)
		f, ok := cache.files[rel]
		if !ok || f.sum != sum {
			f = decodedFile{sum: sum, docs: decodeDocuments(ctx, rel, data, b.Kinds(), w.opts.File)}
			if err := ctx.Err(); err != nil {
				return source.Update{}, err // f may be partial: not cached
			}
			cache.files[rel] = f
			decoded++
		}
		diags = append(diags, addDocuments(f.docs, b)...)
	}
	for rel := range cache.files {
		if !seen[rel] {
			delete(cache.files, rel)
		}
	}
	diags = append(diags, b.Diagnostics()...)
	snap := b.BuildFrom(cache.last)
	cache.last = snap
	w.opts.Log.V(1).Info("loaded config directory", "dir", w.dir, "files", len(files), "decoded", decoded,
		"objects", snap.Len(), "duration", time.Since(start))
	return source.Update{Snapshot: snap, Diagnostics: diags}, nil
}

// watchTree adds a watch on dir and every non-hidden directory under it.
func (w *Watcher) watchTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking; its parent's watch reports it
			}
			return fmt.Errorf("config directory %s: %w", path, err)
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := fw.Add(path); err != nil {
			return fmt.Errorf("config directory %s: cannot watch %s: %w (on Linux, raise fs.inotify.max_user_watches if the tree is large)", w.dir, path, err)
		}
		return nil
	})
}

// hidden reports whether path lies in a hidden directory under the root,
// which List skips and so need not be watched.
func (w *Watcher) hidden(path string) bool {
	rel, err := filepath.Rel(w.dir, path)
	if err != nil {
		return false
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.HasPrefix(part, ".") && part != "." && part != ".." {
			return true
		}
	}
	return false
}
