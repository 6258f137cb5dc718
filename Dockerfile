# syntax=docker/dockerfile:1
# The image `make image` builds, for those who build with Docker (BuildKit):
#
#   docker build -t ghcr.io/aeraki-ng/aeraki:0.1.0 --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" .
#
# The binary comes from the same make target with the same flags (static,
# -trimpath, stamped); the config is the same: FROM scratch, /aeraki, user
# 65532:65532, the same OCI labels (cmd/aeraki's image test checks that this
# file and `make image` agree). `make image` needs no daemon and is what the
# tests build and inspect.
# Defaults: the chart's appVersion (a test keeps them equal), no revision.
ARG VERSION=0.1.0-dev
ARG REVISION=unknown

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETARCH
ARG VERSION
ARG REVISION
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make image-binary IMAGE_ARCH="$TARGETARCH" IMAGE_BINARY=/out/aeraki \
    VERSION="$VERSION" REVISION="$REVISION"

FROM scratch
ARG VERSION
ARG REVISION
COPY --from=build --chmod=0755 /out/aeraki /aeraki
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/aeraki"]
LABEL org.opencontainers.image.title="aeraki" \
      org.opencontainers.image.description="Control plane extending Istio to Dubbo, Thrift, Redis and user-defined protocols" \
      org.opencontainers.image.source="https://github.com/aeraki-ng/aeraki" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION"
