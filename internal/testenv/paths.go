package testenv

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// ModulePath is the module whose root RepoRoot looks for.
const ModulePath = "github.com/aeraki-ng/aeraki"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the absolute path of the repository root: the nearest
// directory, walking up from the working directory, whose go.mod declares
// module github.com/aeraki-ng/aeraki (nested tool modules are skipped).
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for dir := wd; ; dir = filepath.Dir(dir) {
			if modulePathOf(filepath.Join(dir, "go.mod")) == ModulePath {
				rootDir = dir
				return
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
		rootErr = errors.New("testenv: no go.mod for module " + ModulePath + " above " + wd)
	})
	return rootDir, rootErr
}

func modulePathOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// BinDir returns the absolute directory holding etcd, kube-apiserver, kubectl
// and pilot-discovery: $KUBEBUILDER_ASSETS when set, otherwise
// <repo root>/.cache/bin (filled by hack/test-deps.sh). It returns "" when
// neither can be determined.
func BinDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(root, ".cache", "bin")
}

// IstioCRDDir returns the directory with the Istio CRDs of the pinned Istio
// version (internal/testenv/testdata/istio-crds), suitable for StartKube.
func IstioCRDDir() string {
	root, err := RepoRoot()
	if err != nil {
		return filepath.Join("testdata", "istio-crds")
	}
	return filepath.Join(root, "internal", "testenv", "testdata", "istio-crds")
}

// binPath returns BinDir()/name if it is an executable file.
func binPath(name string) (string, bool) {
	dir := BinDir()
	if dir == "" {
		return "", false
	}
	p := filepath.Join(dir, name)
	st, err := os.Stat(p) // follows the etcd symlink
	if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return p, false
	}
	return p, true
}

// missingBinaries returns the names (of those given) not present in BinDir.
func missingBinaries(names ...string) []string {
	var missing []string
	for _, n := range names {
		if _, ok := binPath(n); !ok {
			missing = append(missing, n)
		}
	}
	return missing
}

// CorpusEnv names the variable that points tests at Aeraki's published
// demo manifests (the compatibility corpus) when they are not beside the
// checkout.
const CorpusEnv = "AERAKI_CORPUS"

// CorpusDir returns the compatibility corpus: $AERAKI_CORPUS when set,
// else the first shared/aeraki-corpus found walking up from the
// repository root (it sits beside the checkout, or beside the directory
// of worktrees). "" when there is none.
func CorpusDir() string {
	if d := os.Getenv(CorpusEnv); d != "" {
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		return ""
	}
	for dir := root; ; dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "aeraki-corpus")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if parent := filepath.Dir(dir); parent == dir {
			return ""
		}
	}
}

// CorpusOptOut is the value of $AERAKI_CORPUS that skips the corpus tests
// on purpose (a checkout without the corpus).
const CorpusOptOut = "none"

// RequireCorpus returns the compatibility corpus directory. When it cannot
// be found the test fails, saying where it looked and how to point at it:
// a skip would pass unseen (go test prints nothing for skipped tests of a
// passing package), and the corpus checks are the evidence that Aeraki
// users' manifests still work. AERAKI_CORPUS=none skips them knowingly.
func RequireCorpus(t testing.TB) string {
	t.Helper()
	if os.Getenv(CorpusEnv) == CorpusOptOut {
		t.Skipf("SKIPPED: %s=%s: the compatibility corpus checks are off", CorpusEnv, CorpusOptOut)
	}
	dir := CorpusDir()
	if dir == "" {
		t.Fatalf("CORPUS ABSENT: Aeraki's compatibility corpus (shared/aeraki-corpus) is not beside the checkout or any parent directory; set %s to its path, or %s=%s to skip the corpus checks", CorpusEnv, CorpusEnv, CorpusOptOut)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("CORPUS ABSENT: %s=%q is not a directory; point it at the corpus, or set %s=%s to skip the corpus checks", CorpusEnv, dir, CorpusEnv, CorpusOptOut)
	}
	return dir
}
