package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

func serviceYAML(name string, port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s, namespace: demo}
spec:
  ports:
  - {name: tcp-dubbo, port: %d}
`, name, port)
}

// startWatcher runs a Watcher on dir and returns its updates; it stops the
// watcher when the test ends and fails the test if Run returned an error.
func startWatcher(t *testing.T, dir string) <-chan source.Update {
	t.Helper()
	w, err := NewWatcher(WatcherOptions{Dir: dir, Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan source.Update)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, updates) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return updates
}

// waitFor returns the first update whose snapshot satisfies ok, failing
// the test after a generous bound (this is not a timing assertion).
func waitFor(t *testing.T, updates <-chan source.Update, what string, ok func(*model.Snapshot) bool) source.Update {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case u := <-updates:
			if ok(u.Snapshot) {
				return u
			}
		case <-deadline:
			t.Fatalf("no update with %s", what)
		}
	}
}

func hasService(host string, port uint32) func(*model.Snapshot) bool {
	return func(s *model.Snapshot) bool {
		svc := s.View().Service(host)
		return svc != nil && svc.Port(port) != nil
	}
}

func lacksService(host string) func(*model.Snapshot) bool {
	return func(s *model.Snapshot) bool { return s.View().Service(host) == nil }
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), serviceYAML("a", 20880))
	updates := startWatcher(t, dir)

	first := waitFor(t, updates, "the initial content", hasService("a.demo.svc.cluster.local", 20880))
	if len(first.Snapshot.Objects()) != 1 {
		t.Fatalf("initial snapshot has %d objects, want 1", len(first.Snapshot.Objects()))
	}

	// A new file.
	write(t, filepath.Join(dir, "b.yaml"), serviceYAML("b", 20880))
	waitFor(t, updates, "service b", hasService("b.demo.svc.cluster.local", 20880))

	// A new subdirectory, then a file in it: the new directory is watched.
	write(t, filepath.Join(dir, "sub", "deeper", "c.yaml"), serviceYAML("c", 20880))
	waitFor(t, updates, "service c in a new subdirectory", hasService("c.demo.svc.cluster.local", 20880))
	write(t, filepath.Join(dir, "sub", "deeper", "c.yaml"), serviceYAML("c", 20881))
	waitFor(t, updates, "service c's new port", hasService("c.demo.svc.cluster.local", 20881))

	// An editor's save: write a temporary file and rename it over the original.
	tmp := filepath.Join(dir, ".a.yaml.swp")
	write(t, tmp, serviceYAML("a", 20990))
	if err := os.Rename(tmp, filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, updates, "service a's port after a rename-replace save", hasService("a.demo.svc.cluster.local", 20990))

	// A deleted file deletes its objects.
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, updates, "service b gone", lacksService("b.demo.svc.cluster.local"))

	// A removed subdirectory too.
	if err := os.RemoveAll(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, updates, "service c gone", lacksService("c.demo.svc.cluster.local"))
}

func TestWatcherReportsBadDocumentsAndKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), serviceYAML("a", 20880))
	updates := startWatcher(t, dir)
	waitFor(t, updates, "the initial content", hasService("a.demo.svc.cluster.local", 20880))

	write(t, filepath.Join(dir, "bad.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: 7}\n")
	u := waitFor(t, updates, "the bad file loaded", func(s *model.Snapshot) bool { return true })
	var found bool
	for _, d := range u.Diagnostics {
		if d.Severity == model.SeverityError && d.Origin.File == "bad.yaml" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no error diagnostic for bad.yaml in %v", u.Diagnostics)
	}
	if u.Snapshot.View().Service("a.demo.svc.cluster.local") == nil {
		t.Fatal("a bad document dropped the good service from the snapshot")
	}
}

func TestWatcherCoalescesBursts(t *testing.T) {
	dir := t.TempDir()
	updates := startWatcher(t, dir)
	waitFor(t, updates, "the initial (empty) content", func(*model.Snapshot) bool { return true })
	for i := range 30 {
		write(t, filepath.Join(dir, fmt.Sprintf("s%02d.yaml", i)), serviceYAML(fmt.Sprintf("s%02d", i), 20880))
	}
	n := 0
	waitFor(t, updates, "all 30 services", func(s *model.Snapshot) bool {
		n++
		return len(s.Objects()) == 30
	})
	if n >= 30 {
		t.Errorf("30 quick writes produced %d updates; the debounce should coalesce them", n)
	}
}

func TestWatcherFailsWhenDirectoryIsRemoved(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "config")
	write(t, filepath.Join(dir, "a.yaml"), serviceYAML("a", 20880))
	w, err := NewWatcher(WatcherOptions{Dir: dir, Debounce: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	updates := make(chan source.Update, 1)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, updates) }()
	<-updates
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "removed or renamed") {
			t.Fatalf("Run returned %v, want an error saying the directory was removed", err)
		}
	case <-ctx.Done():
		t.Fatal("Run kept going after its directory was removed")
	}
}

func TestNewWatcherRejectsMissingDirectory(t *testing.T) {
	_, err := NewWatcher(WatcherOptions{Dir: filepath.Join(t.TempDir(), "nope")})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("NewWatcher on a missing directory: %v, want an error naming it", err)
	}
}

func TestNewWatcherRejectsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.yaml")
	write(t, path, serviceYAML("a", 20880))
	_, err := NewWatcher(WatcherOptions{Dir: path})
	if err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Fatalf("NewWatcher on a file: %v, want an error saying it is a file", err)
	}
}

// The watcher's incremental reload gives what a full Load of the
// directory gives, after every kind of change.
func TestWatcherReloadEqualsLoad(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWatcher(WatcherOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cache := newLoadCache()
	steps := []func(){
		func() { write(t, filepath.Join(dir, "a.yaml"), serviceYAML("a", 1)+"---\n"+serviceYAML("b", 2)) },
		func() { write(t, filepath.Join(dir, "sub", "c.yaml"), serviceYAML("c", 3)) },
		func() { write(t, filepath.Join(dir, "dup.yaml"), serviceYAML("a", 4)) }, // redefines a: a warning
		func() {
			write(t, filepath.Join(dir, "bad.yaml"), "kind: Service\napiVersion: v1\nmetadata: {name: x}\nspec: {ports: 1}\n")
		},
		func() { write(t, filepath.Join(dir, "a.yaml"), serviceYAML("a", 5)) },
		func() { os.Remove(filepath.Join(dir, "dup.yaml")) },
		func() { os.RemoveAll(filepath.Join(dir, "sub")) },
	}
	for i, step := range steps {
		step()
		got, err := w.load(context.Background(), cache)
		if err != nil {
			t.Fatal(err)
		}
		b := model.NewBuilder(model.Options{})
		want, err := Load(context.Background(), dir, b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if g, w := fmt.Sprint(got.Diagnostics), fmt.Sprint(want); g != w {
			t.Errorf("step %d: diagnostics\n got %s\nwant %s", i, g, w)
		}
		if g, w := revisions(got.Snapshot), revisions(b.Build()); g != w {
			t.Errorf("step %d: objects\n got %s\nwant %s", i, g, w)
		}
	}
}

func revisions(s *model.Snapshot) string {
	var out []string
	for _, o := range s.Objects() {
		out = append(out, o.Ref.Key()+"@"+string(o.Revision)+"@"+o.Origin.String())
	}
	return strings.Join(out, " ")
}
