# aeraki: build, test, generate, lint.
#
#   make build      build bin/aeraki
#   make test       install/build the test peers (etcd, kube-apiserver, kubectl,
#                   istiod) into .cache/ when missing, then run every test
#   make generate   regenerate deepcopy code and crd/*.yaml from api/
#   make lint       go vet and a gofmt check

GO ?= go
BIN := $(CURDIR)/.cache/bin

.PHONY: all build test test-deps lint
all: build

build:
	$(GO) build -o bin/aeraki ./cmd/aeraki

test-deps:
	bash hack/test-deps.sh

# KUBEBUILDER_ASSETS points controller-runtime's envtest at the cached
# etcd and kube-apiserver; tests that need them skip without it.
# The example plugin module is tested too, so an SDK change that would
# break outside authors fails here first.
test: test-deps lint
	KUBEBUILDER_ASSETS=$(BIN) $(GO) test -count=1 ./...
	cd examples/plugin-awesomerpc && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) test -count=1 ./...

lint:
	$(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

include Makefile.generate.mk
