#!/usr/bin/env bash
# Provide what the suite's single-node Kubernetes cluster needs (tests/cluster.py), in .tools/bin:
# - kubelet, kube-proxy, kube-controller-manager, kube-scheduler v1.37.2 from the same pinned module as
#   the API server (scripts/kube: they reuse its Go build cache), plus two static helpers of that module:
#   `pause` (the pod sandbox) and `wget` (the chart's `helm test` client);
# - the CNI plugins bridge, host-local and loopback (.tools/cni/bin), crane (images as tarballs without
#   Docker) and CoreDNS (with its kubernetes plugin), from the Go module proxy;
# - the NetworkPolicy enforcer: kube-router's network policy controller (iptables + ipset), from the Go module
#   proxy. v2.1.0 is the only release the proxy serves here, and security flaws are reported for it: it is
#   pinned and runs only inside the suite's isolated cluster (a bridge with no uplink), see docs/operations.md;
# - containerd, runc, iptables and ipset from Debian (apt, waiting up to APT_LOCK_TIMEOUT seconds for dpkg's lock).
#
# Each group carries a version stamp in .tools/bin, so a re-run is a no-op until a pin changes.
# Cost in a cold `make test` on 2 cores (empty Go caches, after scripts/kube-tools.sh): about 2 min for the
# Kubernetes binaries, about 1.5 min for CoreDNS, seconds for CNI and crane and for apt when packages are missing.
# Every step is tried; the ones that fail are written to the file named by CLUSTER_UNAVAILABLE
# ("tool<TAB>reason", scripts/tools.sh passes its .tools/unavailable list) and the script exits 1.
# GOSMITH_SKIP_CLUSTER=1 skips it all: the cluster tests are then skipped with that reason.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN="$PWD/.tools/bin"
CNI_BIN="$PWD/.tools/cni/bin"
SRC="$PWD/scripts/kube"
UNAVAILABLE_OUT=${CLUSTER_UNAVAILABLE:-/dev/null}
APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-120}
CNI_PLUGINS_VERSION=v1.10.0
CRANE_VERSION=v0.22.1
COREDNS_VERSION=v1.15.0
KUBE_ROUTER_VERSION=v2.1.0
mkdir -p "$BIN" "$CNI_BIN"

if [ "${GOSMITH_SKIP_CLUSTER:-}" = 1 ]; then
  echo "==> GOSMITH_SKIP_CLUSTER=1: not building the cluster tools (cluster tests will be skipped)" >&2
  exit 0
fi

failed=0
say() { echo "==> $*" >&2; }
unavailable() { # TOOL REASON
  printf '%s\t%s\n' "$1" "$2" >>"$UNAVAILABLE_OUT"
  echo "warning: $1 unavailable: $2" >&2
  failed=1
}
current() { # STAMP WANT FILE...: the files exist and the stamp says WANT
  local stamp=$1 want=$2 f
  shift 2
  for f in "$@"; do [ -x "$f" ] || return 1; done
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. Kubernetes node and control-plane binaries + pause + wget, from scripts/kube.
if command -v go >/dev/null 2>&1; then
  KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$SRC/go.mod")
  minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  want="$KUBE_VERSION $(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/cmd/pause/main.go" "$SRC/cmd/wget/main.go" | sha256sum | cut -c1-16)"
  names=(kubelet kube-proxy kube-controller-manager kube-scheduler pause wget)
  if ! current "$BIN/.cluster-kube.version" "$want" "${names[@]/#/$BIN/}"; then
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    say "building kubelet, kube-proxy, kube-controller-manager, kube-scheduler $KUBE_VERSION (estimate 2-6 min on 2 cores with the API server's build cache, idle to busy)"
    ok=1
    kube_start=$SECONDS
    for name in "${names[@]}"; do
      case $name in
        pause | wget) pkg=./cmd/$name flags="-s -w" ;;
        *) pkg=k8s.io/kubernetes/cmd/$name flags=$ldflags ;;
      esac
      start=$SECONDS
      if (cd "$SRC" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
          go build -trimpath -ldflags "$flags" -o "$tmp/$name" "$pkg") >"$tmp/$name.log" 2>&1; then
        echo "    $name: $((SECONDS - start)) s" >&2
      else
        unavailable "$name" "go build $pkg failed: $(tail -n 1 "$tmp/$name.log" | tr '\t' ' ')"
        ok=0
      fi
    done
    s=$((SECONDS - kube_start))
    echo "    Kubernetes binaries built in $((s / 60)) min $((s % 60)) s (estimate 2-6 min on 2 cores)" >&2
    if [ "$ok" = 1 ]; then
      for name in "${names[@]}"; do mv "$tmp/$name" "$BIN/"; done
      echo "$want" >"$BIN/.cluster-kube.version"
    fi
  fi

  # 2. CNI plugins, crane, CoreDNS: `go install` of the released modules.
  install() { # STAMPNAME VERSION DESTDIR ESTIMATE(minutes, idle-busy) PKG...
    local stamp=$BIN/.$1.version version=$2 dest=$3 minutes=$4
    shift 4
    local want="$* @$version" files=() pkg
    for pkg in "$@"; do files+=("$dest/$(basename "$pkg")"); done
    current "$stamp" "$want" "${files[@]}" && return 0
    say "building $* $version from the Go module proxy (estimate $minutes min on 2 cores, idle to busy)"
    local gobin="$tmp/gobin-$(basename "$stamp")" start=$SECONDS args=()
    for pkg in "$@"; do args+=("$pkg@$version"); done
    if GOBIN="$gobin" CGO_ENABLED=0 GOTOOLCHAIN=local go install -trimpath -ldflags "-s -w" "${args[@]}" \
        >"$tmp/install.log" 2>&1; then
      for pkg in "$@"; do mv "$gobin/$(basename "$pkg")" "$dest/"; done
      echo "$want" >"$stamp"
      local s=$((SECONDS - start))
      echo "    built in $((s / 60)) min $((s % 60)) s (estimate $minutes min on 2 cores)" >&2
    else
      for pkg in "$@"; do
        unavailable "$(basename "$pkg")" "go install $pkg@$version failed: $(tail -n 1 "$tmp/install.log" | tr '\t' ' ')"
      done
    fi
  }
  install cni-plugins "$CNI_PLUGINS_VERSION" "$CNI_BIN" 1-2 \
    github.com/containernetworking/plugins/plugins/main/bridge \
    github.com/containernetworking/plugins/plugins/main/loopback \
    github.com/containernetworking/plugins/plugins/ipam/host-local
  install crane "$CRANE_VERSION" "$BIN" 1-2 github.com/google/go-containerregistry/cmd/crane
  install coredns "$COREDNS_VERSION" "$BIN" 2-5 github.com/coredns/coredns
  install kube-router "$KUBE_ROUTER_VERSION" "$BIN" 2-5 github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
else
  for name in kubelet kube-proxy kube-controller-manager kube-scheduler crane coredns kube-router bridge; do
    unavailable "$name" "Go is not installed"
  done
fi

# 3. containerd, runc, iptables, ipset from Debian.
missing=()
for cmd in containerd:containerd runc:runc iptables:iptables ipset:ipset; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing ${missing[*]} with apt (estimate 1-3 min; waits up to ${APT_LOCK_TIMEOUT}s for the dpkg lock)"
    apt_log="$PWD/.tools/cluster.apt.log"
    if apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -qq >"$apt_log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" \
          install -y -qq --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1; then
      say "installed ${missing[*]}"
    else
      for pkg in "${missing[@]}"; do
        unavailable "$pkg" "apt-get failed: $(grep -m1 -E '^(E|W):' "$apt_log" || tail -n 1 "$apt_log") (log: .tools/cluster.apt.log)"
      done
    fi
  else
    for pkg in "${missing[@]}"; do unavailable "$pkg" "not installed, and apt-get is unavailable or needs root"; done
  fi
fi

if [ "$failed" = 0 ]; then
  say "cluster tools ready in $BIN and $CNI_BIN"
fi
exit "$failed"
