#!/usr/bin/env bash
# Provide the external tools the suite needs in .tools/bin: a tool already on PATH at the pinned
# version is linked, anything else is built once from the Go module proxy (a stamp file records the
# pin; re-running is a fast no-op). This script never stops the suite: a tool it cannot provide is
# written to .tools/unavailable ("tool<TAB>reason"), and the tests that need it are reported as
# skipped with that reason (tests/conftest.py).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
TOOLS="$PWD/.tools"
BIN="$TOOLS/bin"
UNAVAILABLE="$TOOLS/unavailable"
mkdir -p "$BIN"
: >"$UNAVAILABLE.tmp"

HELM4_VERSION=v4.3.1
HELM3_VERSION=v3.22.0
GOLANGCI_VERSION=v2.15.0
# Seconds apt waits for another process's dpkg lock before giving up (then the qemu tests are skipped).
APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-120}

say() { echo "==> $*" >&2; }

# unavailable TOOL REASON: record a tool this run could not provide (its tests are skipped, with REASON).
unavailable() {
  printf '%s\t%s\n' "$1" "$2" >>"$UNAVAILABLE.tmp"
  echo "warning: $1 unavailable: $2; the tests that need it will be skipped" >&2
}

# Estimates are ranges of minutes on 2 cores: the low end measured on an idle machine, the high end
# about 3x that, as measured on a busy one (other builds and test runs sharing the cores).
# took START RANGE: "1 min 57 s (estimate 2-6 min on 2 cores)" for a step that started at SECONDS=START.
took() {
  local s=$((SECONDS - $1))
  echo "$((s / 60)) min $((s % 60)) s (estimate $2 min on 2 cores)"
}

# progress NAME RANGE: print an elapsed/estimate line every minute while a slow step runs.
PROGRESS_PID=
progress_start() {
  local name=$1 minutes=$2 start=$SECONDS
  (
    # one-second sleeps: a killed loop leaves no long sleep behind holding the output open
    while sleep 1; do
      if [ $(((SECONDS - start) % 60)) -eq 0 ]; then
        echo "    ... $name: $(((SECONDS - start) / 60)) min elapsed (estimate $minutes min on 2 cores: idle to busy)" >&2
      fi
    done
  ) &
  PROGRESS_PID=$!
}
progress_stop() {
  if [ -n "$PROGRESS_PID" ]; then
    kill "$PROGRESS_PID" 2>/dev/null
    wait "$PROGRESS_PID" 2>/dev/null
    PROGRESS_PID=
  fi
}
trap progress_stop EXIT

# on_path NAME: the first NAME on PATH outside .tools/bin.
on_path() {
  local dir
  local IFS=:
  for dir in $PATH; do
    [ "$dir" = "$BIN" ] && continue
    if [ -x "$dir/$1" ] && [ ! -d "$dir/$1" ]; then
      echo "$dir/$1"
      return 0
    fi
  done
  return 1
}

# provide NAME MODULE/PKG VERSION RANGE VERSION_CHECK [LDFLAGS]: make .tools/bin/NAME the pinned
# version. VERSION_CHECK is a shell snippet that succeeds when "$1" (a binary) is the wanted version.
provide() {
  local name=$1 pkg=$2 version=$3 minutes=$4 check=$5 extra=${6:-} stamp="$BIN/.$1.version"
  local want="$pkg@$version $extra ${TOOLCHAIN:-}"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  local found
  if found=$(on_path "$name") && bash -c "$check" _ "$found" >/dev/null 2>&1; then
    say "using $found ($name $version, already on PATH)"
    ln -sf "$found" "$BIN/$name"
    echo "$want" >"$stamp"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    unavailable "$name" "Go is not installed, so $name $version cannot be built"
    return 0
  fi
  say "building $name $version from the Go module proxy (first build: estimate $minutes min on 2 cores, idle to busy)"
  local tmp log start=$SECONDS
  tmp=$(mktemp -d)
  log="$TOOLS/$name.build.log"
  progress_start "$name" "$minutes"
  if GOTOOLCHAIN=${TOOLCHAIN:-local} GOBIN="$tmp" CGO_ENABLED=0 \
      go install -trimpath -ldflags "-s -w $extra" "$pkg@$version" >"$log" 2>&1 &&
      mv "$tmp/$(basename "$pkg")" "$BIN/$name"; then
    progress_stop
    echo "$want" >"$stamp"
    say "built $name in $(took "$start" "$minutes")"
  else
    progress_stop
    rm -f "$stamp"
    unavailable "$name" "building $pkg@$version failed: $(tail -n 1 "$log" | tr '\t' ' ') (log: .tools/$name.build.log)"
  fi
  rm -rf "$tmp"
}

# Stamp the versions the way helm's own Makefile does (version string; default Kubernetes version of
# `helm template`/`helm lint` = the client-go minor helm is built with, 1.37 for both pins).
provide helm helm.sh/helm/v4/cmd/helm "$HELM4_VERSION" 2-6 \
  "\"\$1\" version --template '{{.Version}}' | grep -qx '$HELM4_VERSION'" \
  "-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION"
provide helm3 helm.sh/helm/v3/cmd/helm "$HELM3_VERSION" 1-3 \
  "\"\$1\" version --template '{{.Version}}' | grep -qx '$HELM3_VERSION'" \
  "-X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
# golangci-lint refuses to lint a module whose go line is newer than the Go it was built with: build it
# with the newest Go the template supports (go1.27.3, fetched from the Go module proxy as a toolchain).
TOOLCHAIN=go1.27.3 provide golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint \
  "$GOLANGCI_VERSION" 1-4 \
  "\"\$1\" version | grep -q 'version ${GOLANGCI_VERSION#v} built with go1.27'"

# otelcol: the OpenTelemetry Collector the collector-sidecar tests run (tests/tools/otelcol: OTLP receiver,
# batch/memory_limiter processors, OTLP exporters at one pinned release line). Rebuilt only when its
# source changes (the stamp is the sha256 of go.mod, go.sum and main.go, as tests/conftest.py checks).
OTELCOL_SRC=tests/tools/otelcol
otelcol_digest=
if [ -f "$OTELCOL_SRC/main.go" ]; then
  otelcol_digest=$(cat "$OTELCOL_SRC/go.mod" "$OTELCOL_SRC/go.sum" "$OTELCOL_SRC/main.go" | sha256sum | cut -d' ' -f1)
fi
if [ -z "$otelcol_digest" ]; then
  :
elif [ -x "$BIN/otelcol" ] && [ "$(cat "$BIN/.otelcol.sha256" 2>/dev/null)" = "$otelcol_digest" ]; then
  :
elif ! command -v go >/dev/null 2>&1; then
  unavailable otelcol "Go is not installed, so the collector cannot be built"
else
  say "building otelcol (OpenTelemetry Collector v0.165.0/v1.71.0 modules) from the Go module proxy (first build: estimate 2-6 min on 2 cores, idle to busy)"
  otelcol_start=$SECONDS
  otelcol_log="$TOOLS/otelcol.build.log"
  progress_start otelcol 2-6
  if (cd "$OTELCOL_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/otelcol.tmp" .) >"$otelcol_log" 2>&1 &&
      mv "$BIN/otelcol.tmp" "$BIN/otelcol"; then
    progress_stop
    echo "$otelcol_digest" >"$BIN/.otelcol.sha256"
    say "built otelcol in $(took "$otelcol_start" 2-6)"
  else
    progress_stop
    rm -f "$BIN/.otelcol.sha256" "$BIN/otelcol.tmp"
    unavailable otelcol "building tests/tools/otelcol failed: $(tail -n 1 "$otelcol_log" | tr '\t' ' ') (log: .tools/otelcol.build.log)"
  fi
fi

# qemu-user-static runs the cross-compiled linux/arm64 binary (Debian package).
if ! command -v qemu-aarch64-static >/dev/null 2>&1 && ! command -v qemu-aarch64 >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing qemu-user-static with apt (estimate 1-3 min; waits up to ${APT_LOCK_TIMEOUT}s for the dpkg lock)"
    apt_start=$SECONDS
    apt_log="$TOOLS/qemu-user-static.apt.log"
    if apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -qq >"$apt_log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" \
          install -y -qq qemu-user-static >>"$apt_log" 2>&1; then
      say "installed qemu-user-static in $(took "$apt_start" 1-3)"
    else
      unavailable qemu-user-static "apt-get failed: $(grep -m1 -E '^(E|W):' "$apt_log" || tail -n 1 "$apt_log") (log: .tools/qemu-user-static.apt.log)"
    fi
  else
    unavailable qemu-user-static "not installed, and apt-get is unavailable or needs root"
  fi
fi
# prometheus + promtool (Debian package) check the generated rules and run them against the built service.
# The package's postinst cannot start its service here (no init): the tests run the binary themselves.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing prometheus (server + promtool) with apt (estimate 1-3 min; waits up to ${APT_LOCK_TIMEOUT}s for the dpkg lock)"
    apt_start=$SECONDS
    apt_log="$TOOLS/prometheus.apt.log"
    if apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -qq >"$apt_log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" \
          install -y -qq --no-install-recommends prometheus >>"$apt_log" 2>&1 &&
        command -v promtool >/dev/null 2>&1; then
      say "installed prometheus in $(took "$apt_start" 1-3)"
    else
      unavailable prometheus "apt-get failed: $(grep -m1 -E '^(E|W):' "$apt_log" || tail -n 1 "$apt_log") (log: .tools/prometheus.apt.log)"
    fi
  else
    unavailable prometheus "not installed, and apt-get is unavailable or needs root"
  fi
fi
# A real Kubernetes API server, etcd and kubectl for the chart tests (scripts/kube-tools.sh: built from
# the Go module proxy; 4-12 min the first time on 2 cores, about 1 min from Go's build cache).
if [ "${GOSMITH_SKIP_KUBE:-}" = 1 ]; then
  say "GOSMITH_SKIP_KUBE=1: not building kube-apiserver (the API server tests skip, saying so)"
elif command -v go >/dev/null 2>&1; then
  kube_log="$TOOLS/kube.build.log"
  kube_start=$SECONDS
  progress_start "kube-apiserver" 4-12
  if bash scripts/kube-tools.sh >"$kube_log" 2>&1; then
    progress_stop
    grep -E '^(==>|    )' "$kube_log" >&2 || true
    say "kube-apiserver, kubectl and etcd step took $(took "$kube_start" 4-12)"
  else
    progress_stop
    unavailable kube-apiserver "scripts/kube-tools.sh failed: $(tail -n 1 "$kube_log" | tr '\t' ' ') (log: .tools/kube.build.log)"
  fi
else
  unavailable kube-apiserver "Go is not installed, so kube-apiserver cannot be built"
fi
# The single-node cluster of the `cluster` tests (scripts/cluster-tools.sh): kubelet, kube-proxy,
# controller-manager and scheduler from the API server's module (about 2 min from its build cache),
# CNI plugins, crane, CoreDNS and the NetworkPolicy enforcer (kube-router, about 3 min) from the Go module
# proxy, containerd/runc/iptables/ipset from apt.
if [ "${GOSMITH_SKIP_CLUSTER:-}" = 1 ]; then
  say "GOSMITH_SKIP_CLUSTER=1: not building the cluster tools (the cluster tests skip, saying so)"
else
  cluster_log="$TOOLS/cluster.build.log"
  cluster_start=$SECONDS
  progress_start "cluster tools" 6-15
  if CLUSTER_UNAVAILABLE="$UNAVAILABLE.tmp" bash scripts/cluster-tools.sh >"$cluster_log" 2>&1; then
    progress_stop
  else
    progress_stop
    grep -q . "$UNAVAILABLE.tmp" || unavailable cluster "scripts/cluster-tools.sh failed (log: .tools/cluster.build.log)"
  fi
  grep -E '^(==>|    |warning:)' "$cluster_log" >&2 || true
  say "cluster tools step took $(took "$cluster_start" 6-15)"
fi
mv "$UNAVAILABLE.tmp" "$UNAVAILABLE"
[ -s "$UNAVAILABLE" ] || rm -f "$UNAVAILABLE"
say "tools ready in $BIN: $(cd "$BIN" && echo *)"
exit 0
