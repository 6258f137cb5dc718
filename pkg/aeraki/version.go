package aeraki

import "runtime/debug"

// The build stamps. `make build` and `make image` set them at link time:
//
//	go build -ldflags "-X github.com/aeraki-ng/aeraki/pkg/aeraki.version=0.1.0 \
//	  -X github.com/aeraki-ng/aeraki/pkg/aeraki.revision=$(git rev-parse HEAD)" ./cmd/aeraki
//
// They are variables only because the linker can set nothing else; nothing
// assigns them at run time. A plain `go build` (or a custom build that
// imports this package) keeps version at the version of this source tree,
// which must equal the chart's appVersion (charts/aeraki/Chart.yaml; a test
// checks it), and revision empty.
var (
	version  = "0.1.0-dev"
	revision = ""
)

// Version is the release this binary was built as: what `aeraki version`
// prints, the image's org.opencontainers.image.version label, and the
// User-Agent aeraki sends the API server.
func Version() string { return version }

// Revision is the source commit this binary was built from: the stamp when
// there is one, else the VCS revision the Go toolchain recorded (go build in
// a git checkout), else "unknown". It lets an operator match a running image
// to a commit.
func Revision() string {
	if revision != "" {
		return revision
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}
