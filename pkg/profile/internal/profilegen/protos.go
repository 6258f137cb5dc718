package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// How Envoy's API says which config messages belong to an extension:
//
//   - a file whose header comment carries "[#extension: <name>]" holds
//     the config of <name>: its top-level messages are <name>'s types;
//   - a tag in the comment right above a top-level message gives that
//     message alone (envoy/extensions/matching/common_inputs/network/v3
//     tags one input per message);
//   - a file with no tag in a sub-package of a tagged extension's
//     directory belongs to that extension (generic_proxy's matcher/v3 and
//     action/v3 are parts of envoy.filters.network.generic_proxy, which
//     registers their inputs and actions); only under envoy/extensions,
//     since envoy/config holds core types that belong to no extension.
//
// Envoy's removed v2 API is skipped: its tags name the same extensions,
// but no current Envoy registers v2 types.
//
// The result may list more messages than Envoy registers as factories
// (a config file's helper messages); that never makes a check pass that
// Envoy would fail, because such messages are not what typed_config
// carries.

var (
	tagPattern     = regexp.MustCompile(`\[#extension:\s*([A-Za-z0-9_.-]+)\s*\]`)
	packagePattern = regexp.MustCompile(`^package\s+([A-Za-z0-9_.]+)\s*;`)
	declPattern    = regexp.MustCompile(`^(message|enum|service|extend)\s+([A-Za-z0-9_]+)`)
	versionDir     = regexp.MustCompile(`/v[0-9]+(alpha[0-9]*|beta[0-9]*)?$`)
	// v2Package matches Envoy's removed v2 API: its tags name the same
	// extensions, but no current Envoy registers v2 types.
	v2Package = regexp.MustCompile(`\.v2(alpha[0-9]*|beta[0-9]*)?$`)
)

// protoFile is what one .proto file says about extensions.
type protoFile struct {
	dir      string
	pkg      string
	messages []string            // top-level messages
	fileTags []string            // extensions the whole file configures
	msgTags  map[string][]string // extensions configured by one message
}

func scanProto(src string) protoFile {
	pf := protoFile{msgTags: map[string][]string{}}
	var pending []string // tags in the comment block being read
	depth := 0
	flush := func() {
		if depth == 0 {
			pf.fileTags = append(pf.fileTags, pending...)
		}
		pending = nil
	}
	for _, line := range strings.Split(src, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "//") {
			for _, m := range tagPattern.FindAllStringSubmatch(trim, -1) {
				pending = append(pending, m[1])
			}
			continue
		}
		code := trim
		if i := strings.Index(code, "//"); i >= 0 {
			code = code[:i]
		}
		code = stripStrings(code)
		if depth == 0 {
			if m := packagePattern.FindStringSubmatch(code); m != nil {
				pf.pkg = m[1]
			}
			if m := declPattern.FindStringSubmatch(code); m != nil {
				if m[1] == "message" {
					pf.messages = append(pf.messages, m[2])
					if len(pending) > 0 {
						pf.msgTags[m[2]] = append(pf.msgTags[m[2]], pending...)
						pending = nil
					}
				}
			}
		}
		if code == "" || depth == 0 {
			flush()
		}
		depth += strings.Count(code, "{") - strings.Count(code, "}")
	}
	flush()
	return pf
}

// isExtensionDir reports whether a directory holds extension config
// (envoy/extensions/..., contrib/envoy/extensions/...) rather than core
// API types, which belong to no extension.
func isExtensionDir(dir string) bool {
	return strings.HasPrefix(dir, "envoy/extensions/") || strings.HasPrefix(dir, "contrib/envoy/extensions/") ||
		!strings.HasPrefix(dir, "envoy/") && !strings.HasPrefix(dir, "contrib/")
}

func stripStrings(s string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' && (i == 0 || s[i-1] != '\\') {
			in = !in
			continue
		}
		if !in {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// extensionTypes reads every .proto under root and returns, by extension
// name, the full names of its config messages.
func extensionTypes(root string) (map[string][]string, error) {
	var files []protoFile
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".proto") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pf := scanProto(string(b))
		if pf.pkg == "" || v2Package.MatchString(pf.pkg) {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pf.dir = filepath.ToSlash(rel)
		files = append(files, pf)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mapTypes(files), nil
}

func mapTypes(files []protoFile) map[string][]string {
	out := map[string][]string{}
	roots := map[string]string{} // extension directory (version dir stripped) -> extension
	for _, pf := range files {
		for _, ext := range pf.fileTags {
			for _, m := range pf.messages {
				out[ext] = append(out[ext], pf.pkg+"."+m)
			}
			if isExtensionDir(pf.dir) {
				roots[versionDir.ReplaceAllString(pf.dir, "")] = ext
			}
		}
		for m, exts := range pf.msgTags {
			for _, ext := range exts {
				out[ext] = append(out[ext], pf.pkg+"."+m)
			}
		}
	}
	var rootDirs []string
	for d := range roots {
		rootDirs = append(rootDirs, d)
	}
	// Longest first: a codec's own directory wins over its filter's.
	sort.Slice(rootDirs, func(i, j int) bool { return len(rootDirs[i]) > len(rootDirs[j]) })
	for _, pf := range files {
		if len(pf.fileTags) > 0 || len(pf.msgTags) > 0 {
			continue
		}
		for _, r := range rootDirs {
			if strings.HasPrefix(pf.dir, r+"/") {
				for _, m := range pf.messages {
					out[roots[r]] = append(out[roots[r]], pf.pkg+"."+m)
				}
				break
			}
		}
	}
	for k := range out {
		out[k] = dedupe(out[k])
	}
	return out
}
