package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// What the image test stamps and expects back.
const (
	testVersion  = "1.2.3-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	testEpoch    = 1700000000 // 2023-11-14T22:13:20Z
	testTag      = "example.test/aeraki:" + testVersion
)

// dockerArchive is a docker-save tarball, read the way `docker load` reads
// one: manifest.json, then the config and layers it names.
type dockerArchive struct {
	manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	config struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Created      string `json:"created"`
		Config       struct {
			Entrypoint []string          `json:"Entrypoint"`
			Cmd        []string          `json:"Cmd"`
			User       string            `json:"User"`
			WorkingDir string            `json:"WorkingDir"`
			Env        []string          `json:"Env"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
		RootFS struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []struct {
			Created string `json:"created"`
		} `json:"history"`
	}
	configName string
	files      map[string][]byte // every file of the archive
}

func readDockerArchive(t *testing.T, path string) *dockerArchive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := &dockerArchive{files: map[string][]byte{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		a.files[h.Name] = b
	}
	if err := json.Unmarshal(a.files["manifest.json"], &a.manifest); err != nil || len(a.manifest) != 1 {
		t.Fatalf("%s: manifest.json: %v (%d images)\n%s", path, err, len(a.manifest), a.files["manifest.json"])
	}
	a.configName = a.manifest[0].Config
	cfg, ok := a.files[a.configName]
	if !ok {
		t.Fatalf("%s: manifest.json names config %s, which is not in the archive", path, a.configName)
	}
	if got := "sha256:" + sha256Hex(cfg); got != a.configName {
		t.Fatalf("config blob %s has digest %s", a.configName, got)
	}
	if err := json.Unmarshal(cfg, &a.config); err != nil {
		t.Fatalf("config: %v", err)
	}
	return a
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// layerFiles unpacks the image's one layer, checking its digest against
// the config's diff_ids (what a loader verifies).
func (a *dockerArchive) layerFiles(t *testing.T) map[string]*tar.Header {
	t.Helper()
	if len(a.manifest[0].Layers) != 1 || len(a.config.RootFS.DiffIDs) != 1 {
		t.Fatalf("want one layer, got %v (diff_ids %v)", a.manifest[0].Layers, a.config.RootFS.DiffIDs)
	}
	gz, err := gzip.NewReader(bytes.NewReader(a.files[a.manifest[0].Layers[0]]))
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	raw, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + sha256Hex(raw); got != a.config.RootFS.DiffIDs[0] {
		t.Fatalf("layer diff_id %s, config says %s", got, a.config.RootFS.DiffIDs[0])
	}
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			a.files["layer:"+h.Name] = b
		}
		out[h.Name] = h
	}
}

// makeImage runs `make image` (what an operator runs) with fixed stamps.
func makeImage(t *testing.T, root, binary, tarball string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not on PATH")
	}
	cmd := exec.Command("make", "-s", "-C", root, "image",
		"VERSION="+testVersion, "REVISION="+testRevision, "SOURCE_DATE_EPOCH=1700000000",
		"IMAGE="+testTag, "IMAGE_ARCH="+runtime.GOARCH, "IMAGE_BINARY="+binary, "IMAGE_TAR="+tarball)
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "GOFLAGS=") // not the caller's make or go flags
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
}

// TestImage builds the image with `make image` and checks what a cluster
// will run: the config (entrypoint, user, labels, timestamps), the one
// layer (a static, stamped binary owned by root), that the binary inside
// reports the stamped version and revision, that a second build is
// byte-identical, that the real `podman load` accepts the tarball, and that
// the Dockerfile describes the same image.
func TestImage(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image holds a linux binary; run on linux")
	}
	dir := t.TempDir()
	first := filepath.Join(dir, "first.tar")
	makeImage(t, root, filepath.Join(dir, "bin", "aeraki"), first)
	img := readDockerArchive(t, first)
	created := time.Unix(testEpoch, 0).UTC().Format(time.RFC3339)

	t.Run("config", func(t *testing.T) {
		if got := img.manifest[0].RepoTags; !reflect.DeepEqual(got, []string{testTag}) {
			t.Errorf("RepoTags %v, want [%s]: docker load and kind load tag the image from it", got, testTag)
		}
		c := img.config
		if c.OS != "linux" || c.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s", c.OS, c.Architecture, runtime.GOARCH)
		}
		if !reflect.DeepEqual(c.Config.Entrypoint, []string{"/aeraki"}) || len(c.Config.Cmd) != 0 {
			t.Errorf("entrypoint %q cmd %q, want [/aeraki] and none (the Deployment passes serve)", c.Config.Entrypoint, c.Config.Cmd)
		}
		if c.Config.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532 (non-root, as the chart's runAsUser/runAsGroup)", c.Config.User)
		}
		want := map[string]string{
			"org.opencontainers.image.source":   "https://github.com/aeraki-ng/aeraki",
			"org.opencontainers.image.version":  testVersion,
			"org.opencontainers.image.revision": testRevision,
			"org.opencontainers.image.title":    "aeraki",
		}
		for k, v := range want {
			if c.Config.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, c.Config.Labels[k], v)
			}
		}
		if c.Created != created || len(c.History) != 1 || c.History[0].Created != created {
			t.Errorf("created %q, history %v: want every time stamp %s (SOURCE_DATE_EPOCH)", c.Created, c.History, created)
		}
	})

	var binary string
	t.Run("layer", func(t *testing.T) {
		files := img.layerFiles(t)
		if len(files) != 1 || files["aeraki"] == nil {
			t.Fatalf("layer holds %v, want only aeraki (the image is FROM scratch)", slices.Sorted(maps.Keys(files)))
		}
		h := files["aeraki"]
		if h.Mode&0o7777 != 0o755 || h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(testEpoch, 0)) {
			t.Errorf("/aeraki mode %o uid %d gid %d mtime %v: want 0755, owned by root (user 65532 cannot replace it), mtime SOURCE_DATE_EPOCH",
				h.Mode, h.Uid, h.Gid, h.ModTime)
		}
		binary = filepath.Join(dir, "extracted-aeraki")
		if err := os.WriteFile(binary, img.files["layer:aeraki"], 0o755); err != nil {
			t.Fatal(err)
		}
		ef, err := elf.Open(binary)
		if err != nil {
			t.Fatalf("/aeraki is not an ELF binary: %v", err)
		}
		defer ef.Close()
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("/aeraki is dynamically linked (PT_INTERP); a scratch image has no loader or libc")
			}
		}
		bi, err := buildinfo.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["vcs.revision"] != "" {
			t.Errorf("build settings %v: want CGO_ENABLED=0, -trimpath, no VCS stamp (reproducible)", settings)
		}
	})

	t.Run("version", func(t *testing.T) {
		if binary == "" {
			t.Skip("no binary extracted")
		}
		out, err := exec.Command(binary, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("/aeraki version: %v\n%s", err, out)
		}
		lines := strings.Split(string(out), "\n")
		if len(lines) < 2 || lines[0] != "aeraki "+testVersion || lines[1] != "revision "+testRevision {
			t.Errorf("/aeraki version printed\n%s\nwant the stamps: aeraki %s, revision %s", out, testVersion, testRevision)
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		second := filepath.Join(dir, "second.tar")
		makeImage(t, root, filepath.Join(dir, "bin2", "aeraki"), second)
		a, _ := os.ReadFile(first)
		b, _ := os.ReadFile(second)
		if !bytes.Equal(a, b) {
			t.Errorf("two builds of the same tree differ (%s vs %s): binary or image build is not reproducible", sha256Hex(a), sha256Hex(b))
		}
	})

	t.Run("podman load", func(t *testing.T) {
		podmanLoad(t, dir, first, img)
	})

	t.Run("Dockerfile", func(t *testing.T) {
		compareDockerfile(t, filepath.Join(root, "Dockerfile"), img, filepath.Join(root, "charts", "aeraki", "Chart.yaml"))
	})
}

// podmanLoad loads the tarball with the real podman (daemonless, in a
// throw-away store) and reads back what it stored.
func podmanLoad(t *testing.T, dir, tarball string, img *dockerArchive) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not on PATH; run `make test` (or `bash hack/test-deps.sh podman`) to install it")
	}
	args := []string{"--root", filepath.Join(dir, "podman-root"), "--runroot", filepath.Join(dir, "podman-run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	run := func(a ...string) string {
		t.Helper()
		cmd := exec.Command(podman, append(append([]string{}, args...), a...)...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF=/dev/null", "CONTAINERS_REGISTRIES_CONF=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(a, " "), err, out)
		}
		return string(out)
	}
	out := run("load", "-i", tarball)
	if !strings.Contains(out, "Loaded image: "+testTag) && !strings.Contains(out, "Loaded image(s): "+testTag) {
		t.Errorf("podman load did not report %s:\n%s", testTag, out)
	}
	var inspected []struct {
		ID     string
		Config struct {
			Entrypoint []string
			User       string
			Labels     map[string]string
		}
	}
	if err := json.Unmarshal([]byte(run("image", "inspect", testTag)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	got := inspected[0]
	if "sha256:"+got.ID != img.configName {
		t.Errorf("podman stored image id %s, the tarball's config is %s", got.ID, img.configName)
	}
	if !reflect.DeepEqual(got.Config.Entrypoint, img.config.Config.Entrypoint) || got.Config.User != img.config.Config.User ||
		!reflect.DeepEqual(got.Config.Labels, img.config.Config.Labels) {
		t.Errorf("podman sees entrypoint %q user %q labels %v; the tarball has %q %q %v", got.Config.Entrypoint, got.Config.User,
			got.Config.Labels, img.config.Config.Entrypoint, img.config.Config.User, img.config.Config.Labels)
	}
}

var dockerfileArg = regexp.MustCompile(`^"?\$\{?([A-Z_]+)\}?"?$`)

// compareDockerfile checks that the Dockerfile's final stage has the
// image's entrypoint, user and labels (its $VERSION and $REVISION standing
// for the stamps), and that its default VERSION is the chart's appVersion.
func compareDockerfile(t *testing.T, path string, img *dockerArchive, chartYAML string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stage, user, entry string
	labels := map[string]string{}
	argDefaults := map[string]string{}
	var lines []string
	s := bufio.NewScanner(bytes.NewReader(b))
	for cur := ""; s.Scan(); {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		lines, cur = append(lines, cur+line), ""
	}
	for _, line := range lines {
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			stage = rest
		case "ARG":
			if k, v, ok := strings.Cut(rest, "="); ok && stage == "" {
				argDefaults[k] = v
			}
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entry = rest
		case "LABEL":
			for _, kv := range regexp.MustCompile(`([a-z.]+)=("[^"]*"|\S+)`).FindAllStringSubmatch(rest, -1) {
				labels[kv[1]] = strings.Trim(kv[2], `"`)
			}
		}
	}
	if stage != "scratch" {
		t.Errorf("Dockerfile's final stage is FROM %q, want scratch", stage)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entry), &ep); err != nil || !reflect.DeepEqual(ep, img.config.Config.Entrypoint) {
		t.Errorf("Dockerfile ENTRYPOINT %s, make image has %q", entry, img.config.Config.Entrypoint)
	}
	if user != img.config.Config.User {
		t.Errorf("Dockerfile USER %q, make image has %q", user, img.config.Config.User)
	}
	stamps := map[string]string{"VERSION": testVersion, "REVISION": testRevision}
	resolved := map[string]string{}
	for k, v := range labels {
		if m := dockerfileArg.FindStringSubmatch(v); m != nil {
			v = stamps[m[1]]
		}
		resolved[k] = v
	}
	if !reflect.DeepEqual(resolved, img.config.Config.Labels) {
		t.Errorf("Dockerfile labels (stamps substituted) %v, make image has %v", resolved, img.config.Config.Labels)
	}
	chart, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?`).FindSubmatch(chart)
	if m == nil || argDefaults["VERSION"] != string(m[1]) {
		t.Errorf("Dockerfile's default VERSION %q, the chart's appVersion %q: keep them equal", argDefaults["VERSION"], m)
	}
}
