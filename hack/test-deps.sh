#!/usr/bin/env bash
# Installs or builds the real peers the integration tests talk to, into the
# git-ignored cache <repo>/.cache/bin:
#
#   etcd             Debian package etcd-server (installed with apt if missing)
#   kube-apiserver   built from tools/kube   (k8s.io/kubernetes, pinned there)
#   kubectl          built from tools/kube
#   pilot-discovery  built from tools/istio  (istio.io/istio, pinned there)
#   helm             built from tools/helm   (helm.sh/helm/v4, pinned there)
#   podman, dot      Debian packages podman and graphviz (apt if missing; used
#                    from PATH by the image and trace diagram tests)
#
# Idempotent: a binary is rebuilt only when it is missing or when the stamp
# recorded next to it (.cache/stamps/<name>) no longer matches the pinned
# version (tool module go.mod/go.sum hash, or etcd's version). Progress goes to
# stderr; nothing is printed on stdout.
#
# Usage: bash hack/test-deps.sh        (from any directory)
#        bash hack/test-deps.sh helm   only the named ones (etcd kube istio helm podman graphviz)
#        FORCE=1 bash hack/test-deps.sh  rebuild everything
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
BIN="$CACHE/bin"
STAMPS="$CACHE/stamps"
mkdir -p "$BIN" "$STAMPS"

# Keep stdout clean: everything (including child processes) goes to stderr.
exec 3>&1 1>&2

log() { printf 'test-deps: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"

# Needed to fetch istio.io/istio and friends: several of their pseudo-versions
# are not in the public checksum database.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/agentgateway,github.com/envoyproxy/go-control-plane,istio.io"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# Never let a go.work of the caller leak into the tool modules.
export GOWORK=off

# up_to_date NAME STAMP -> 0 when .cache/bin/NAME exists and its stamp matches.
up_to_date() {
	local name="$1" want="$2"
	[[ -z "${FORCE:-}" ]] || return 1
	[[ -x "$BIN/$name" ]] || return 1
	[[ -f "$STAMPS/$name" ]] || return 1
	[[ "$(cat "$STAMPS/$name")" == "$want" ]]
}

write_stamp() { printf '%s\n' "$2" >"$STAMPS/$1"; }

# tool_stamp DIR MODULE -> "MODULE VERSION sha256(go.mod+go.sum)"
tool_stamp() {
	local dir="$1" mod="$2" ver sum
	ver="$(awk -v m="$mod" '$1 == m || ($1 == "require" && $2 == m) { print $NF; exit }' "$dir/go.mod")"
	[[ -n "$ver" ]] || die "cannot find $mod in $dir/go.mod"
	sum="$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16)"
	printf '%s %s %s' "$mod" "$ver" "$sum"
}

# build_tool DIR OUTNAME PKG [LDFLAGS]: go build in the tool module DIR, atomically.
build_tool() {
	local dir="$1" out="$2" pkg="$3" ldflags="${4:-}" start
	start=$(date +%s)
	log "building $out from $pkg (this can take several minutes) ..."
	(cd "$dir" && go build -ldflags "-s -w $ldflags" -o "$BIN/.$out.tmp" "$pkg")
	mv -f "$BIN/.$out.tmp" "$BIN/$out"
	log "built $out in $(($(date +%s) - start))s"
}

# apt_install PACKAGE...: installs Debian packages, as root or with sudo.
apt_install() {
	local sudo=()
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install $*"
		sudo=(sudo)
	fi
	if ! apt-cache show "$@" >/dev/null 2>&1; then
		"${sudo[@]}" apt-get update -q
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "$@"
}

# ---------------------------------------------------------------- etcd
ensure_etcd() {
	local etcd_path
	etcd_path="$(command -v etcd || true)"
	if [[ -z "$etcd_path" && -x /usr/bin/etcd ]]; then etcd_path=/usr/bin/etcd; fi
	if [[ -z "$etcd_path" ]]; then
		log "etcd not found; installing Debian package etcd-server with apt"
		apt_install etcd-server
		etcd_path="$(command -v etcd || echo /usr/bin/etcd)"
		[[ -x "$etcd_path" ]] || die "etcd-server installed but no etcd binary found"
	fi
	local want
	# sed reads the whole output: with head, etcd can die of SIGPIPE and
	# pipefail would stop the script (seen as "Error 141").
	want="$(readlink -f "$etcd_path") $("$etcd_path" --version 2>/dev/null | sed -n 1p)"
	if up_to_date etcd "$want" && [[ "$(readlink -f "$BIN/etcd")" == "$(readlink -f "$etcd_path")" ]]; then
		log "etcd up to date ($want)"
		return
	fi
	ln -sfn "$(readlink -f "$etcd_path")" "$BIN/etcd"
	write_stamp etcd "$want"
	log "etcd -> $(readlink -f "$etcd_path")"
}

# ensure_command CMD PACKAGE: CMD on PATH, from the Debian PACKAGE if missing.
ensure_command() {
	local cmd="$1" pkg="$2"
	if command -v "$cmd" >/dev/null 2>&1; then
		log "$cmd found ($(command -v "$cmd"))"
		return
	fi
	log "$cmd not found; installing Debian package $pkg with apt"
	apt_install "$pkg"
	command -v "$cmd" >/dev/null 2>&1 || die "$pkg installed but $cmd is not on PATH"
}

# The image test loads `make image`'s tarball with the real `podman load`
# (daemonless); the trace diagram test renders `aeraki trace -o dot` with
# the real Graphviz. Both are used from PATH, nothing is cached.
ensure_podman() { ensure_command podman podman; }
ensure_graphviz() { ensure_command dot graphviz; }

# ---------------------------------------------------------------- kube
ensure_kube() {
	local dir="$ROOT/tools/kube" want ver
	want="$(tool_stamp "$dir" k8s.io/kubernetes)"
	ver="$(awk '{print $2}' <<<"$want")"
	local minor="${ver#v1.}"
	minor="${minor%%.*}"
	local ld="-X k8s.io/component-base/version.gitVersion=$ver"
	ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
	ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
	ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$ver"
	ld+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
	local name pkg
	for name in kube-apiserver kubectl; do
		pkg="k8s.io/kubernetes/cmd/$name"
		if up_to_date "$name" "$want"; then
			log "$name up to date ($want)"
			continue
		fi
		build_tool "$dir" "$name" "$pkg" "$ld"
		write_stamp "$name" "$want"
	done
}

# ---------------------------------------------------------------- istio
ensure_istio() {
	local dir="$ROOT/tools/istio" want ver moddir istio_version
	want="$(tool_stamp "$dir" istio.io/istio)"
	ver="$(awk '{print $2}' <<<"$want")"
	# Module source dir (downloads it if needed); used for the version and CRDs.
	moddir="$(cd "$dir" && go mod download -json istio.io/istio | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
	[[ -d "$moddir" ]] || die "cannot locate istio.io/istio $ver in the module cache"
	if up_to_date pilot-discovery "$want"; then
		log "pilot-discovery up to date ($want)"
	else
		istio_version="$(cat "$moddir/VERSION" 2>/dev/null || echo 0.0)-dev"
		build_tool "$dir" pilot-discovery istio.io/istio/pilot/cmd/pilot-discovery \
			"-X istio.io/istio/pkg/version.buildVersion=$istio_version -X istio.io/istio/pkg/version.buildGitRevision=${ver##*-} -X istio.io/istio/pkg/version.buildStatus=Clean"
		write_stamp pilot-discovery "$want"
	fi
	# The Istio CRDs are committed (plain YAML) under internal/testenv/testdata;
	# warn when they drift from the pinned Istio so whoever bumps it refreshes them.
	local crd_src="$moddir/manifests/charts/base/files/crd-all.gen.yaml"
	local crd_dst="$ROOT/internal/testenv/testdata/istio-crds/crd-all.gen.yaml"
	if [[ -f "$crd_src" ]] && ! cmp -s "$crd_src" "$crd_dst"; then
		log "WARNING: $crd_dst differs from istio.io/istio $ver; refresh it with:"
		log "  cp '$crd_src' '$crd_dst'"
	fi
}

# ---------------------------------------------------------------- helm
ensure_helm() {
	local dir="$ROOT/tools/helm" want ver
	want="$(tool_stamp "$dir" helm.sh/helm/v4)"
	ver="$(awk '{print $2}' <<<"$want")"
	if up_to_date helm "$want"; then
		log "helm up to date ($want)"
		return
	fi
	build_tool "$dir" helm helm.sh/helm/v4/cmd/helm \
		"-X helm.sh/helm/v4/internal/version.version=$ver -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
	write_stamp helm "$want"
}

start=$(date +%s)
if [[ $# -eq 0 ]]; then
	set -- etcd kube istio helm podman graphviz
fi
for dep in "$@"; do
	case "$dep" in
	etcd | kube | istio | helm | podman | graphviz) "ensure_$dep" ;;
	*) die "unknown dependency $dep (known: etcd kube istio helm podman graphviz)" ;;
	esac
done
log "all test dependencies ready in $BIN ($(($(date +%s) - start))s)"
