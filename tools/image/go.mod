module github.com/aeraki-ng/aeraki/tools/image

// Tool module: aeraki-image, the daemonless image builder behind
// `make image`. Not imported by the main module.

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
