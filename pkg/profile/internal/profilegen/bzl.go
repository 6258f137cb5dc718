package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

var (
	dictStart = regexp.MustCompile(`^([A-Z_]+)\s*=\s*\{\s*$`)
	listStart = regexp.MustCompile(`^([A-Z_]+)\s*=\s*\[\s*$`)
	dictEntry = regexp.MustCompile(`^\s*"([^"]+)"\s*:`)
	listEntry = regexp.MustCompile(`^\s*"([^"]+)"\s*,?\s*(#.*)?$`)
)

// bzlFile is the dicts and lists of string literals an
// extensions_build_config.bzl defines at top level, with the entries a
// "Disabled by default" comment marks.
type bzlFile struct {
	dicts    map[string][]string
	lists    map[string][]string
	disabled map[string]bool
}

func parseBzl(src string) bzlFile {
	f := bzlFile{dicts: map[string][]string{}, lists: map[string][]string{}, disabled: map[string]bool{}}
	var dict, list string
	disableNext := false
	for _, line := range strings.Split(src, "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case dict == "" && list == "":
			if m := dictStart.FindStringSubmatch(line); m != nil {
				dict = m[1]
			} else if m := listStart.FindStringSubmatch(line); m != nil {
				list = m[1]
			}
		case trim == "}" && dict != "":
			dict = ""
		case trim == "]" && list != "":
			list = ""
		case strings.HasPrefix(trim, "#"):
			if strings.Contains(strings.ToLower(trim), "disabled by default") {
				disableNext = true
			}
		case dict != "":
			if m := dictEntry.FindStringSubmatch(line); m != nil {
				f.dicts[dict] = append(f.dicts[dict], m[1])
				if disableNext {
					f.disabled[m[1]] = true
				}
				disableNext = false
			}
		case list != "":
			if m := listEntry.FindStringSubmatch(line); m != nil {
				f.lists[list] = append(f.lists[list], m[1])
			}
		}
	}
	return f
}

// buildExtensions is the set of extensions a build compiles in, from its
// extensions_build_config.bzl: upstream Envoy's EXTENSIONS dict, or
// istio/proxy's ENVOY_EXTENSIONS without ISTIO_DISABLED_EXTENSIONS plus
// the contrib extensions ISTIO_ENABLED_CONTRIB_EXTENSIONS names (the same
// expression as that file's EXTENSIONS = dict(...) line).
func buildExtensions(src string) ([]string, error) {
	f := parseBzl(src)
	set := map[string]bool{}
	switch {
	case len(f.dicts["ENVOY_EXTENSIONS"]) > 0:
		off := map[string]bool{}
		for _, n := range f.lists["ISTIO_DISABLED_EXTENSIONS"] {
			off[n] = true
		}
		for _, n := range f.dicts["ENVOY_EXTENSIONS"] {
			if !off[n] && !f.disabled[n] {
				set[n] = true
			}
		}
		on := map[string]bool{}
		for _, n := range f.lists["ISTIO_ENABLED_CONTRIB_EXTENSIONS"] {
			on[n] = true
		}
		for _, n := range f.dicts["ENVOY_CONTRIB_EXTENSIONS"] {
			if on[n] {
				set[n] = true
			}
		}
	case len(f.dicts["EXTENSIONS"]) > 0:
		for _, n := range f.dicts["EXTENSIONS"] {
			if !f.disabled[n] {
				set[n] = true
			}
		}
	default:
		return nil, fmt.Errorf("neither an EXTENSIONS nor an ENVOY_EXTENSIONS dict: not an extensions_build_config.bzl")
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
