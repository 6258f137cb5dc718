// Command profilegen writes one profile data file (pkg/profile/data/*.yaml)
// from a proxy build's own sources:
//
//   - -bzl: the build's extension list, an extensions_build_config.bzl in
//     either of the two shapes in use: upstream Envoy's (one EXTENSIONS
//     dict) or istio/proxy's (ENVOY_EXTENSIONS minus
//     ISTIO_DISABLED_EXTENSIONS, plus the ENVOY_CONTRIB_EXTENSIONS named in
//     ISTIO_ENABLED_CONTRIB_EXTENSIONS). An entry preceded by a "Disabled by
//     default" comment is left out, as Envoy's build leaves it out.
//   - -api: proto trees (envoyproxy/data-plane-api, a build's own api/)
//     that say which config messages belong to which extension, through
//     the "[#extension: <name>]" tags of Envoy's API (see protos.go).
//   - -extra: YAML extensions to add as they are (Aeraki's own filters,
//     grpc-go's registry, what every Envoy links in), each with the source
//     it was read in.
//
// docs/profiles.md shows the commands that produced each data file.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/pkg/profile"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "profilegen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("profilegen", flag.ContinueOnError)
	var (
		name, desc, bzl, out string
		runs, sources, apis  multi
		extras, typeFiles    multi
	)
	fs.StringVar(&name, "name", "", "profile name")
	fs.StringVar(&desc, "description", "", "one sentence saying what the build is")
	fs.Var(&runs, "runs", "where the build runs (repeatable)")
	fs.Var(&sources, "source", "a source, as what|repository|path|commit|date|note (repeatable)")
	fs.StringVar(&bzl, "bzl", "", "the build's extensions_build_config.bzl")
	fs.Var(&apis, "api", "a proto tree mapping extension names to config types (repeatable)")
	fs.Var(&extras, "extra", "a YAML list of extensions to add as they are (repeatable)")
	fs.Var(&typeFiles, "types", "a YAML map of extension name to config types, for extensions of the list whose types no -api tree tags (repeatable)")
	fs.StringVar(&out, "o", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := profile.Profile{Name: name, Description: desc, Runs: runs}
	for _, s := range sources {
		src, err := parseSource(s)
		if err != nil {
			return err
		}
		p.Sources = append(p.Sources, src)
	}
	types := map[string][]string{}
	for _, dir := range apis {
		m, err := extensionTypes(dir)
		if err != nil {
			return err
		}
		for k, v := range m {
			types[k] = append(types[k], v...)
		}
	}
	for _, f := range typeFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var m map[string][]string
		if err := yaml.UnmarshalStrict(b, &m); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for k, v := range m {
			types[k] = append(types[k], v...)
		}
	}
	exts := map[string]*profile.Extension{}
	if bzl != "" {
		b, err := os.ReadFile(bzl)
		if err != nil {
			return err
		}
		names, err := buildExtensions(string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", bzl, err)
		}
		for _, n := range names {
			exts[n] = &profile.Extension{Name: n, Types: dedupe(types[n])}
		}
	}
	for _, f := range extras {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var add []profile.Extension
		if err := yaml.UnmarshalStrict(b, &add); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, e := range add {
			e := e
			if len(e.Types) == 0 {
				e.Types = dedupe(types[e.Name])
			}
			if prev, ok := exts[e.Name]; ok {
				prev.Types = dedupe(append(prev.Types, e.Types...)) // listed already: not builtin-only
				continue
			}
			exts[e.Name] = &e
		}
	}
	for _, e := range exts {
		p.Extensions = append(p.Extensions, *e)
	}
	sort.Slice(p.Extensions, func(i, j int) bool { return p.Extensions[i].Name < p.Extensions[j].Name })
	text, err := render(p)
	if err != nil {
		return err
	}
	if _, err := profile.Parse([]byte(text)); err != nil {
		return fmt.Errorf("generated profile does not parse: %w", err)
	}
	if out == "" {
		_, err = os.Stdout.WriteString(text)
		return err
	}
	return os.WriteFile(out, []byte(text), 0o644)
}

// render writes the profile with its identity and sources first and the
// long extension list last, so a reader sees where the list came from
// before the list.
func render(p profile.Profile) (string, error) {
	text := header(p)
	parts := []map[string]any{{"name": p.Name}, {"description": p.Description}, {"runs": p.Runs}, {"sources": p.Sources}, {"extensions": p.Extensions}}
	for _, part := range parts {
		b, err := yaml.Marshal(part)
		if err != nil {
			return "", err
		}
		text += string(b)
	}
	return text, nil
}

func header(p profile.Profile) string {
	return "# Profile " + p.Name + ": generated by pkg/profile/internal/profilegen from the sources\n" +
		"# below; do not edit by hand. docs/profiles.md says how to refresh it.\n"
}

func parseSource(s string) (profile.Source, error) {
	parts := strings.Split(s, "|")
	for len(parts) < 6 {
		parts = append(parts, "")
	}
	if len(parts) > 6 || parts[0] == "" || parts[1] == "" || parts[3] == "" {
		return profile.Source{}, fmt.Errorf("-source %q: write what|repository|path|commit|date|note (what, repository and commit required)", s)
	}
	return profile.Source{What: parts[0], Repository: parts[1], Path: parts[2], Commit: parts[3], Date: parts[4], Note: parts[5]}, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
