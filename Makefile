# aeraki: build, test, generate, lint, package.
#
#   make build              build bin/aeraki (static, stamped with VERSION and REVISION)
#   make image              build the container image, without a Docker daemon, into
#                           bin/aeraki-image.tar (docker load / podman load /
#                           kind load image-archive accept it)
#   make test               install/build the test peers (etcd, kube-apiserver, kubectl,
#                           istiod, helm; podman and graphviz from apt) when missing, then run
#                           every test
#   make generate           regenerate deepcopy code, crd/*.yaml and the chart's CRDs
#   make install-manifests  regenerate examples/install from the chart's defaults
#   make lint               go vet and a gofmt check

GO ?= go
BIN := $(CURDIR)/.cache/bin
HELM ?= $(BIN)/helm

# Build stamps. VERSION defaults to the chart's appVersion (the version of
# this tree), REVISION to the commit, SOURCE_DATE_EPOCH (every timestamp in
# the image) to the commit's time: the same commit gives the same image.
ifndef VERSION
VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/aeraki/Chart.yaml)
endif
ifndef REVISION
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
ifndef SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
STAMP_PKG := github.com/aeraki-ng/aeraki/pkg/aeraki
LDFLAGS := -s -w -X $(STAMP_PKG).version=$(VERSION) -X $(STAMP_PKG).revision=$(REVISION)
# Static (no cgo), no local paths, no VCS state: reproducible.
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)"

IMAGE_REPO   ?= ghcr.io/aeraki-ng/aeraki
IMAGE        ?= $(IMAGE_REPO):$(VERSION)
IMAGE_ARCH   ?= $(shell $(GO) env GOARCH)
IMAGE_BINARY ?= bin/linux_$(IMAGE_ARCH)/aeraki
IMAGE_TAR    ?= bin/aeraki-image.tar

.PHONY: all build image image-binary test test-deps lint install-manifests chart-crds
all: build

build:
	$(GOBUILD) -o bin/aeraki ./cmd/aeraki

# The Linux binary the image holds (the Dockerfile runs this target too).
image-binary:
	GOOS=linux GOARCH=$(IMAGE_ARCH) $(GOBUILD) -o $(IMAGE_BINARY) ./cmd/aeraki

# Packs it with tools/image (go-containerregistry, pinned there): FROM
# scratch, /aeraki, UID/GID 65532, OCI labels. IMAGE names the tag inside the
# tarball; IMAGE_ARCH=arm64 cross-builds.
image: image-binary
	cd tools/image && GOWORK=off $(GO) run . -binary $(abspath $(IMAGE_BINARY)) -tag $(IMAGE) \
		-platform linux/$(IMAGE_ARCH) -version $(VERSION) -revision $(REVISION) \
		-created $(SOURCE_DATE_EPOCH) -o $(abspath $(IMAGE_TAR))

test-deps:
	bash hack/test-deps.sh

# KUBEBUILDER_ASSETS points controller-runtime's envtest at the cached
# etcd and kube-apiserver; tests that need them skip without it.
# The example plugin module is tested too, its Kubernetes test on the same
# API server binaries (pkg/plugin/plugintest/kubetest), so an SDK change
# that would break outside authors fails here first.
test: test-deps lint
	KUBEBUILDER_ASSETS=$(BIN) $(GO) test -count=1 ./...
	cd examples/plugin-awesomerpc && GOWORK=off $(GO) vet ./... && KUBEBUILDER_ASSETS=$(BIN) GOWORK=off $(GO) test -count=1 ./...

lint:
	$(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# examples/install is generated from the chart (charts/install_test.go
# fails when it is stale).
install-manifests: $(HELM)
	HELM=$(HELM) bash hack/install-manifests.sh

$(HELM): tools/helm/go.mod tools/helm/go.sum
	bash hack/test-deps.sh helm

include Makefile.generate.mk
