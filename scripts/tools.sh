#!/usr/bin/env bash
# Build the external tools the suite needs from registries and cache them in .tools/bin.
# Each tool is rebuilt only when its pinned version changes (a stamp file records it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.tools/bin"
mkdir -p "$BIN"

HELM4_VERSION=v4.3.1
HELM3_VERSION=v3.22.0
GOLANGCI_VERSION=v2.15.0

# build NAME MODULE/PKG VERSION [LDFLAGS]: `go install`-style build of a pinned module into .tools/bin/NAME.
build() {
  local name=$1 pkg=$2 version=$3 extra=${4:-} stamp="$BIN/.$1.version"
  local want="$pkg@$version $extra ${TOOLCHAIN:-}"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "==> building $name ($pkg@$version); first build takes a few minutes" >&2
  local tmp
  tmp=$(mktemp -d)
  GOTOOLCHAIN=${TOOLCHAIN:-local} GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w $extra" "$pkg@$version"
  mv "$tmp/$(basename "$pkg")" "$BIN/$name"
  rm -rf "$tmp"
  echo "$want" >"$stamp"
}

# Stamp the versions the way helm's own Makefile does (version string; default Kubernetes version of
# `helm template`/`helm lint` = the client-go minor helm is built with, 1.37 for both pins).
build helm helm.sh/helm/v4/cmd/helm "$HELM4_VERSION" \
  "-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION"
build helm3 helm.sh/helm/v3/cmd/helm "$HELM3_VERSION" \
  "-X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
# golangci-lint refuses to lint a module whose go line is newer than the Go it was built with: build it
# with the newest Go the template supports (go1.27.3, fetched from the Go module proxy as a toolchain).
TOOLCHAIN=go1.27.3 build golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_VERSION"

# qemu-user-static runs the cross-compiled linux/arm64 binary (Debian package).
if ! command -v qemu-aarch64-static >/dev/null 2>&1 && ! command -v qemu-aarch64 >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> installing qemu-user-static (apt)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
  else
    echo "warning: qemu-user-static missing and apt-get unavailable; arm64 run tests will be skipped" >&2
  fi
fi
echo "==> tools ready in $BIN: $(ls "$BIN" | tr '\n' ' ')" >&2
