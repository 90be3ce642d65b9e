#!/usr/bin/env bash
# Build a real Kubernetes API server, etcd and kubectl from the Go module proxy into .tools/bin.
#
# The module in scripts/kube pins k8s.io/kubernetes and replaces each of its staging modules with the
# published v0.Y.Z release (the module proxy does not serve sample-cli-plugin/sample-controller, and
# they are not needed). The version variables are stamped the way Kubernetes' own build does, or the
# server reports v0.0.0-master and Helm refuses charts with a kubeVersion constraint.
#
# Cost: in a cold `make test` on 2 cores (empty Go caches), where it follows helm's build and shares much
# of its dependencies' compiled packages, 3 min 41 s to 4 min 39 s for kube-apiserver (two cold runs)
# and half a minute for kubectl and etcd; later builds reuse Go's build cache (outside this tree) and take about a minute. Set GOSMITH_SKIP_KUBE=1
# to skip it: the tests that need an API server are then skipped with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.tools/bin"
SRC="$PWD/scripts/kube"
mkdir -p "$BIN"

if [ "${GOSMITH_SKIP_KUBE:-}" = 1 ]; then
  echo "==> GOSMITH_SKIP_KUBE=1: not building kube-apiserver/etcd/kubectl (API server tests will be skipped)" >&2
  exit 0
fi

KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$SRC/go.mod")
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
want="$KUBE_VERSION $(sha256sum "$SRC/go.mod" "$SRC/go.sum" "$SRC/cmd/etcd/main.go" | sha256sum | cut -c1-16)"
stamp="$BIN/.kube.version"
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ -x "$BIN/kubectl" ] \
  && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Estimates: minutes on 2 cores, the low end measured idle, the high end about 3x (a busy machine).
build() { # NAME PACKAGE LDFLAGS ESTIMATE
  local start=$SECONDS s
  (cd "$SRC" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath -ldflags "$3" -o "$tmp/$1" "$2")
  s=$((SECONDS - start))
  echo "    $1 built in $((s / 60)) min $((s % 60)) s (estimate $4 min on 2 cores)" >&2
}
echo "==> building kube-apiserver $KUBE_VERSION (first build: estimate 4-11 min on 2 cores after helm's, idle to busy; cached rebuilds about 1 min)" >&2
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags" 4-11
echo "==> building kubectl $KUBE_VERSION and etcd (estimate 1-2 min after the API server)" >&2
build kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags" 1-2
build etcd ./cmd/etcd "-s -w" 1-2
mv "$tmp/kube-apiserver" "$tmp/kubectl" "$tmp/etcd" "$BIN/"
echo "$want" >"$stamp"
echo "==> kube-apiserver, kubectl and etcd ready in $BIN" >&2
