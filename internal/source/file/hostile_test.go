package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// loadWithin runs LoadPaths on paths and fails the test when it does not
// return within a generous bound: the cases here used to block forever
// (a FIFO) or read until memory ran out (/dev/zero).
func loadWithin(t *testing.T, paths []string, opts file.Options) (*model.Snapshot, []model.Diagnostic) {
	t.Helper()
	type result struct {
		snap  *model.Snapshot
		diags []model.Diagnostic
		err   error
	}
	done := make(chan result, 1)
	go func() {
		b := model.NewBuilder(model.Options{})
		diags, err := file.LoadPaths(context.Background(), paths, true, b, opts)
		done <- result{b.Build(), diags, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.snap, r.diags
	case <-time.After(20 * time.Second):
		t.Fatal("loading did not return: it is blocked on a file it should not have opened or is reading without limit")
		return nil, nil
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func withReason(diags []model.Diagnostic, reason string) []model.Diagnostic {
	var out []model.Diagnostic
	for _, d := range diags {
		if d.Reason == reason {
			out = append(out, d)
		}
	}
	return out
}

func TestFIFOIsReportedAndNeverOpenedForReading(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "svc.yaml"), service)
	fifo := filepath.Join(dir, "p.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	for _, paths := range [][]string{{dir}, {fifo}} {
		snap, diags := loadWithin(t, paths, file.Options{})
		got := withReason(diags, file.ReasonNotRegularFile)
		if len(got) != 1 || got[0].Severity != model.SeverityError || !strings.Contains(got[0].String(), filepath.ToSlash(fifo)) || !strings.Contains(got[0].Message, "named pipe") {
			t.Fatalf("-f %v: want one error naming the FIFO, got %v", paths, diags)
		}
		if paths[0] == dir && snap.View().Service("demo.default.svc.cluster.local") == nil {
			t.Error("the regular file next to the FIFO was not loaded")
		}
	}
}

func TestSymlinkToDevZeroIsReportedNotRead(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	dir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")); err != nil {
		t.Fatal(err)
	}
	_, diags := loadWithin(t, []string{dir}, file.Options{})
	got := withReason(diags, file.ReasonNotRegularFile)
	if len(got) != 1 || !strings.Contains(got[0].String(), "zero.yaml") || !strings.Contains(got[0].Message, "character device") {
		t.Fatalf("want one error naming zero.yaml as a device, got %v", diags)
	}
}

func TestSymlinkToRegularFileIsRead(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(elsewhere, "svc.yaml"), service)
	if err := os.Symlink(filepath.Join(elsewhere, "svc.yaml"), filepath.Join(dir, "svc.yaml")); err != nil {
		t.Fatal(err)
	}
	snap, diags := loadWithin(t, []string{dir}, file.Options{})
	if len(only(diags, model.SeverityError)) != 0 || snap.View().Service("demo.default.svc.cluster.local") == nil {
		t.Fatalf("a symlink to a regular file must load: %v", diags)
	}
}

func TestSymlinkLoopIsAReadError(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "b.yaml"), filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	_, diags := loadWithin(t, []string{dir}, file.Options{})
	if got := withReason(diags, file.ReasonReadError); len(got) != 2 {
		t.Fatalf("want a read error per looping symlink, got %v", diags)
	}
}

func TestFileOverTheSizeLimitIsReported(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "big.yaml"), service+"# "+strings.Repeat("x", 4096)+"\n")
	writeFile(t, filepath.Join(dir, "small.yaml"), strings.Replace(service, "demo", "small", 1))
	snap, diags := loadWithin(t, []string{dir}, file.Options{MaxFileSize: 1024})
	got := withReason(diags, file.ReasonFileTooLarge)
	if len(got) != 1 || !strings.Contains(got[0].String(), "big.yaml") || !strings.Contains(got[0].Message, "--max-file-size") {
		t.Fatalf("want one error naming big.yaml and the flag, got %v", diags)
	}
	if snap.View().Service("small.default.svc.cluster.local") == nil {
		t.Error("the file under the limit was not loaded")
	}
}

func TestTotalSizeLimitStopsReading(t *testing.T) {
	dir := t.TempDir()
	for i := range 4 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.yaml", i)), strings.Replace(service, "demo", fmt.Sprintf("s%d", i), 1))
	}
	limit := int64(2*len(service) + 4)
	snap, diags := loadWithin(t, []string{dir}, file.Options{MaxTotalSize: limit})
	got := withReason(diags, file.ReasonTooMuchInput)
	if len(got) != 2 || !strings.Contains(got[0].String(), "2.yaml") || !strings.Contains(got[0].Message, "--max-total-size") {
		t.Fatalf("want errors for the two files past the limit, got %v", diags)
	}
	if snap.View().Service("s1.default.svc.cluster.local") == nil || snap.View().Service("s2.default.svc.cluster.local") != nil {
		t.Error("want the files before the limit loaded and the ones after it not")
	}
}

// TestLoadStopsWhenTheContextEnds: a signal arriving while a large
// directory loads ends the load with the context's error, without a
// snapshot of half the files.
func TestLoadStopsWhenTheContextEnds(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d}\nspec:\n  ports:\n  - {name: tcp-dubbo, port: 20880}\n", i)
	}
	for i := range 5 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.yaml", i)), b.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := file.LoadPaths(ctx, []string{dir}, false, model.NewBuilder(model.Options{}), file.Options{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want the context's error, got %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("LoadPaths did not stop after its context ended")
	}
}

func TestWatcherReportsAFIFOAndServesTheRest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "svc.yaml"), service)
	if err := syscall.Mkfifo(filepath.Join(dir, "p.yaml"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	w, err := file.NewWatcher(file.WatcherOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := make(chan source.Update, 1)
	go func() { _ = w.Run(ctx, updates) }()
	select {
	case u := <-updates:
		if got := withReason(u.Diagnostics, file.ReasonNotRegularFile); len(got) != 1 || !strings.Contains(got[0].String(), "p.yaml") {
			t.Fatalf("want the FIFO reported, got %v", u.Diagnostics)
		}
		if u.Snapshot.View().Service("demo.default.svc.cluster.local") == nil {
			t.Fatal("the regular file was not served")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the watcher's first load blocked on the FIFO")
	}
}

// TestMalformedHeadersAreErrors: a header of the wrong type is an error
// naming the file, the document and the field, as kubectl refuses it;
// only documents with neither apiVersion nor kind are skipped.
func TestMalformedHeadersAreErrors(t *testing.T) {
	for _, c := range []struct{ doc, field, want string }{
		{"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  namespace: no\n", "metadata.namespace", "boolean"},
		{"apiVersion: v1\nkind: Service\nmetadata:\n  name: 8080\n", "metadata.name", "got a number"},
		{"apiVersion: 1\nkind: Service\nmetadata:\n  name: x\n", "apiVersion", "got a number"},
		{"apiVersion: v1\nkind: [Service]\nmetadata:\n  name: x\n", "kind", "got a list"},
		{"apiVersion: v1\nkind: Service\nmetadata: 5\n", "metadata", "want a mapping"},
	} {
		_, diags := load(t, map[string]string{"h.yaml": service + "---\n" + c.doc})
		errs := only(diags, model.SeverityError)
		if len(errs) != 1 || errs[0].Field != c.field || !strings.Contains(errs[0].String(), "h.yaml, document 2") || !strings.Contains(errs[0].Message, c.want) {
			t.Errorf("%q: want one error on %s mentioning %q, got %v", c.doc, c.field, c.want, diags)
		}
	}
	_, diags := load(t, map[string]string{"plain.yaml": "just: data\n---\nhello\n---\n42\n"})
	if len(only(diags, model.SeverityError)) != 0 || len(only(diags, model.SeverityInfo)) != 3 {
		t.Errorf("documents without apiVersion and kind are skipped with a note: %v", diags)
	}
}
