package render

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v2"

	"github.com/aeraki-ng/aeraki/internal/translate"
)

// Manifests returns the sidecar EnvoyFilters as Kubernetes objects, with
// secrets redacted unless ShowSecrets is set. It builds every document;
// WriteManifestsTo streams them instead.
func (r *Result) Manifests() []map[string]any {
	out := make([]map[string]any, 0, len(r.Output.EnvoyFilters))
	for _, ef := range r.Output.EnvoyFilters {
		out = append(out, r.manifest(ef))
	}
	return out
}

func (r *Result) manifest(ef *translate.EnvoyFilter) map[string]any {
	if !r.ShowSecrets {
		ef = translate.RedactEnvoyFilter(ef)
	}
	return ef.Manifest()
}

// WriteManifestsTo prints the sidecar EnvoyFilters as WriteManifests
// does, byte for byte, but one document at a time: each is built,
// written and dropped before the next, so memory does not grow with the
// output. It stops with ctx's error between two documents.
func (r *Result) WriteManifestsTo(ctx context.Context, w io.Writer, format string) error {
	efs := r.Output.EnvoyFilters
	return writeStream(ctx, w, len(efs), func(i int) map[string]any { return r.manifest(efs[i]) }, format)
}

// WriteEnvoyFiltersTo prints some of the EnvoyFilters as WriteManifestsTo
// prints all of them.
func (r *Result) WriteEnvoyFiltersTo(ctx context.Context, w io.Writer, efs []*translate.EnvoyFilter, format string) error {
	return writeStream(ctx, w, len(efs), func(i int) map[string]any { return r.manifest(efs[i]) }, format)
}

// WriteManifests prints objects as a YAML stream ("yaml") or a
// Kubernetes List ("json"); both can be given to kubectl apply.
func WriteManifests(w io.Writer, objects []map[string]any, format string) error {
	return writeStream(context.Background(), w, len(objects), func(i int) map[string]any { return objects[i] }, format)
}

// writeStream writes n documents, the i-th built by doc(i) when it is its
// turn. The JSON List is written the way json.MarshalIndent writes the
// whole List (keys sorted: apiVersion, items, kind), item by item.
func writeStream(ctx context.Context, w io.Writer, n int, doc func(i int) map[string]any, format string) error {
	switch format {
	case "", "yaml":
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			b, err := marshalYAML(doc(i))
			if err != nil {
				return err
			}
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	case "json":
		if n == 0 {
			_, err := io.WriteString(w, "{\n  \"apiVersion\": \"v1\",\n  \"items\": [],\n  \"kind\": \"List\"\n}\n")
			return err
		}
		if _, err := io.WriteString(w, "{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n"); err != nil {
			return err
		}
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			b, err := json.MarshalIndent(doc(i), "    ", "  ")
			if err != nil {
				return err
			}
			sep := ",\n"
			if i == n-1 {
				sep = "\n"
			}
			if _, err := fmt.Fprintf(w, "    %s%s", b, sep); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, "  ],\n  \"kind\": \"List\"\n}\n")
		return err
	}
	return unknownFormat(format)
}

func unknownFormat(format string) error {
	return fmt.Errorf("unknown output format %q: use yaml or json", format)
}

// WriteDocument prints one document as YAML or indented JSON.
func WriteDocument(w io.Writer, doc map[string]any, format string) error {
	switch format {
	case "", "yaml":
		b, err := marshalYAML(doc)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "json":
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return unknownFormat(format)
}

// marshalYAML writes doc as sigs.k8s.io/yaml.Marshal would, byte for byte,
// without its round trip through JSON text (json.Marshal, then parsing
// that back as YAML, then encoding it): the documents here are already
// plain maps, lists and scalars, so only what the round trip would change
// is changed, scalar by scalar (numbers take the type YAML reads from
// their JSON form; invalid UTF-8 becomes U+FFFD as json.Marshal writes
// it), and the rest goes to the same YAML encoder as it is.
func marshalYAML(doc map[string]any) ([]byte, error) {
	v, err := asJSONWould(doc)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(v)
}

// asJSONWould returns v as the YAML decoder would return it after a trip
// through json.Marshal.
func asJSONWould(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		return validUTF8(x), nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := asJSONWould(e)
			if err != nil {
				return nil, err
			}
			out[validUTF8(k)] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := asJSONWould(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[validUTF8(k)] = validUTF8(e)
		}
		return out, nil
	}
	// Numbers, and any other type: the round trip itself, for this value
	// alone.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// validUTF8 replaces each invalid byte with U+FFFD, as json.Marshal does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
