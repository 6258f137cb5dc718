package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Options control how a directory is read.
type Options struct {
	// DefaultNamespace is given to namespaced objects that name none, as
	// `kubectl apply -n` would. Default "default".
	DefaultNamespace string
	// MaxFileSize is the largest file read, in bytes; larger ones are
	// reported and skipped. DefaultMaxFileSize when zero.
	MaxFileSize int64
	// MaxTotalSize bounds the bytes one load reads from all files
	// together; the file that would pass it and those after it are
	// reported and skipped. DefaultMaxTotalSize when zero.
	MaxTotalSize int64
}

// Extensions of the files read; others are ignored.
var extensions = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// Load reads every manifest under dir, recursively, into b and returns
// what it noticed: skipped documents (info), duplicates (warnings) and
// malformed documents and unreadable files (errors). Origins are relative
// to dir. It fails only when dir itself cannot be read, or with ctx's
// error when ctx ends first.
func Load(ctx context.Context, dir string, b *model.Builder, opts Options) ([]model.Diagnostic, error) {
	files, err := list(ctx, dir, true)
	if err != nil {
		return nil, err
	}
	base := dir
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		base = filepath.Dir(dir)
	}
	r := newReader(ctx, opts)
	var diags []model.Diagnostic
	for _, rel := range files {
		diags = append(diags, loadFile(ctx, r, filepath.Join(base, rel), rel, b, opts)...)
		if err := ctx.Err(); err != nil {
			return diags, err
		}
	}
	return append(diags, b.Diagnostics()...), nil
}

// LoadPaths reads files and directories the way `kubectl apply -f PATH
// [-f PATH...] [-R]` does: directories are read one level deep unless
// recursive is set, in lexical order, paths in the order given. Origins are
// the paths as given, joined with the file's path inside a directory. It
// returns ctx's error as soon as ctx ends.
func LoadPaths(ctx context.Context, paths []string, recursive bool, b *model.Builder, opts Options) ([]model.Diagnostic, error) {
	r := newReader(ctx, opts)
	var diags []model.Diagnostic
	for _, p := range paths {
		files, err := list(ctx, p, recursive)
		if err != nil {
			return nil, err
		}
		base := p
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			base = filepath.Dir(p)
		}
		for _, rel := range files {
			full := filepath.Join(base, rel)
			diags = append(diags, loadFile(ctx, r, full, filepath.ToSlash(full), b, opts)...)
			if err := ctx.Err(); err != nil {
				return diags, err
			}
		}
	}
	return append(diags, b.Diagnostics()...), nil
}

func loadFile(ctx context.Context, r *reader, path, name string, b *model.Builder, opts Options) []model.Diagnostic {
	data, note := r.read(path, name)
	if note != nil {
		return []model.Diagnostic{*note}
	}
	return addDocuments(decodeDocuments(ctx, name, data, b.Kinds(), opts), b)
}

// List returns the manifest files under dir (relative, slash-separated,
// in lexical order), skipping hidden files and directories. When dir is a
// file, List returns its base name alone.
func List(dir string) ([]string, error) { return list(context.Background(), dir, true) }

func list(ctx context.Context, dir string, recursive bool) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("config directory: %w", err)
	}
	if !st.IsDir() {
		return []string{filepath.Base(dir)}, nil
	}
	var out []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if path != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if path != dir && d.IsDir() && !recursive {
			return filepath.SkipDir
		}
		if d.IsDir() || !extensions[strings.ToLower(filepath.Ext(name))] {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("config directory %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// LoadBytes reads the documents of one file (named rel in diagnostics) into b.
func LoadBytes(rel string, data []byte, b *model.Builder, opts Options) []model.Diagnostic {
	return addDocuments(decodeDocuments(context.Background(), rel, data, b.Kinds(), opts), b)
}

// document is one decoded document of a file: an object to add, or a note
// saying why there is none.
type document struct {
	decoded
	origin model.Origin
}

// decodeDocuments decodes the documents of one file (named rel), without
// adding them anywhere, so the watcher can keep them while the file is
// unchanged. Documents of kinds outside kinds are skipped. It stops early,
// returning what it decoded, when ctx ends.
func decodeDocuments(ctx context.Context, rel string, data []byte, kinds *model.KindIndex, opts Options) []document {
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = "default"
	}
	var out []document
	note := func(d model.Diagnostic) { out = append(out, document{decoded: decoded{note: &d}, origin: d.Origin}) }
	docs, err := splitDocuments(data)
	if err != nil {
		note(model.Diagnostic{Severity: model.SeverityError, Origin: model.Origin{File: rel, Index: len(docs)}, Reason: "InvalidYAML",
			Message: fmt.Sprintf("cannot split into YAML documents: %v; documents after this point are not read", err)})
	}
	for i, doc := range docs {
		if ctx.Err() != nil {
			break
		}
		origin := model.Origin{File: rel, Index: i}
		if isBlank(doc) {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			note(model.Diagnostic{Severity: model.SeverityError, Origin: origin, Reason: "InvalidYAML", Message: fmt.Sprintf("malformed YAML: %v", err)})
			continue
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		if bytes.HasPrefix(bytes.TrimSpace(js), []byte("[")) {
			note(model.Diagnostic{Severity: model.SeverityInfo, Origin: origin, Reason: "Skipped", Message: "not a Kubernetes object (a list); skipped"})
			continue
		}
		out = append(out, document{decoded: decode(js, origin, kinds, opts.DefaultNamespace), origin: origin})
	}
	return out
}

// addDocuments adds decoded documents to b, in order, and returns the
// notes about them.
func addDocuments(docs []document, b *model.Builder) []model.Diagnostic {
	var diags []model.Diagnostic
	for _, d := range docs {
		if d.note != nil {
			diags = append(diags, *d.note)
			continue
		}
		if err := b.Add(d.obj, d.origin); err != nil {
			diags = append(diags, model.AddError(err, d.origin)...)
		}
	}
	return diags
}

func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, doc)
	}
}

// isBlank reports whether a YAML document holds only comments, blank
// lines and document markers.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || t == "---" || t == "..." {
			continue
		}
		return false
	}
	return true
}
