// Command aeraki-image packs a static aeraki binary into a container image,
// without a Docker daemon, and writes it as a tarball that `docker load`,
// `podman load` and `kind load image-archive` accept.
//
// The image is built from nothing (like FROM scratch): one layer with the
// binary at /aeraki, run as UID/GID 65532, with the OCI labels of the build.
// Every timestamp in it is --created (SOURCE_DATE_EPOCH by default), so the
// same binary and flags give the same image digest on every machine.
//
// The tarball is go-containerregistry's tarball.Write format: manifest.json
// (repo tags, config, layers), the config blob and the gzipped layer, the
// format `docker save` writes. containerd's importer (what `kind load
// image-archive` runs on each node, `ctr images import`) reads it too: ko's
// kind publisher pipes exactly this format into it
// (ko-build/ko, pkg/publish/kind/write.go).
//
// Usage (see `make image` in the repository root):
//
//	aeraki-image -binary bin/linux_amd64/aeraki -tag ghcr.io/aeraki-ng/aeraki:0.1.0 \
//	  -version 0.1.0 -revision "$(git rev-parse HEAD)" -o bin/aeraki-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed shape; the Dockerfile in the repository root builds
// the same (keep them in step: cmd/aeraki's image test compares them). The
// build time is the config's created field (and the layer's mtimes), not a
// label, so that the Dockerfile, which cannot format a date, matches.
const (
	entrypoint = "/aeraki"
	user       = "65532:65532"
)

type options struct {
	binary, tag, output       string
	platform                  string
	version, revision, source string
	created                   int64
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "aeraki-image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("aeraki-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.binary, "binary", "", "the static aeraki binary to pack (required)")
	fs.StringVar(&o.tag, "tag", "", "the image's name and tag, recorded in the tarball (required), e.g. ghcr.io/aeraki-ng/aeraki:0.1.0")
	fs.StringVar(&o.output, "o", "", "the tarball to write (required)")
	fs.StringVar(&o.platform, "platform", "linux/amd64", "os/arch[/variant] of the binary")
	fs.StringVar(&o.version, "version", "", "org.opencontainers.image.version (required)")
	fs.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision: the source commit (required)")
	fs.StringVar(&o.source, "source", "https://github.com/aeraki-ng/aeraki", "org.opencontainers.image.source")
	fs.Int64Var(&o.created, "created", envEpoch(), "build time as Unix seconds, for every timestamp in the image (default $SOURCE_DATE_EPOCH, else 0)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for flagName, v := range map[string]string{"binary": o.binary, "tag": o.tag, "o": o.output, "version": o.version, "revision": o.revision} {
		if v == "" {
			return fmt.Errorf("-%s is required", flagName)
		}
	}
	tag, err := name.NewTag(o.tag)
	if err != nil {
		return fmt.Errorf("-tag %q: %w", o.tag, err)
	}
	img, err := build(o)
	if err != nil {
		return err
	}
	if err := writeAtomically(o.output, func(w io.Writer) error { return tarball.Write(tag, img, w) }); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "aeraki-image: wrote %s: %s (%s) manifest %s, image id %s\n", o.output, tag, o.platform, digest, id)
	return nil
}

// envEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org), 0 when unset.
func envEpoch() int64 {
	n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// build assembles the image: an empty base, the binary's layer, the config.
func build(o options) (v1.Image, error) {
	plat, err := v1.ParsePlatform(o.platform)
	if err != nil {
		return nil, fmt.Errorf("-platform %q: %w", o.platform, err)
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, err
	}
	created := time.Unix(o.created, 0).UTC()
	layerTar, err := layerContents(bin, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "aeraki-image: COPY aeraki " + entrypoint,
			Comment:   "static aeraki " + o.version,
		},
	})
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "aeraki",
		"org.opencontainers.image.description": "Control plane extending Istio to Dubbo, Thrift, Redis and user-defined protocols",
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: created}
	cf.Author = ""
	cf.Config = v1.Config{
		Entrypoint: []string{entrypoint},
		User:       user,
		WorkingDir: "/",
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	// The same keys on the manifest, where registries look for them.
	return mutate.Annotations(img, labels).(v1.Image), nil
}

// layerContents is the layer's tar: the binary at /aeraki, owned by root
// and executable by everyone (the container runs as 65532 and must not be
// able to replace it), every time stamp fixed.
func layerContents(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     filepath.Base(entrypoint),
		Mode:     0o755,
		Size:     int64(len(bin)),
		ModTime:  mtime,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeAtomically writes path through a temporary file in its directory,
// so a failed build never leaves a truncated tarball behind.
func writeAtomically(path string, write func(io.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
