"""Test isolation: copier never reads the developer's own settings, gosmith never writes the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolate_user_state(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = tmp_path_factory.mktemp("copier-settings") / "settings.yml"
    settings.write_text("{}\n")
    os.environ["COPIER_SETTINGS_PATH"] = str(settings)
    os.environ["GOSMITH_CACHE_DIR"] = str(tmp_path_factory.mktemp("gosmith-cache"))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One project per answer set for the whole run: `rendered("defaults")` (a gen.PROJECTS name) or
    `rendered(name, answers)` renders on first use and shares the directory; `rendered.tidy_diff(name)`,
    `rendered.binary(name, tags=..., ldflags=...)` run once; `rendered.copy(name, dst)` for tests that
    change files (see gen.Rendered)."""
    import gen

    if os.environ.get("PYTEST_XDIST_WORKER"):  # the run's base directory, shared by its xdist workers
        return gen.Rendered(tmp_path_factory.getbasetemp().parent / "rendered")
    return gen.Rendered(tmp_path_factory.mktemp("rendered"))


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """gen.GIT_IDENTITY for the test: commits in temporary repositories work without the user's git config
    (use with `pytestmark = pytest.mark.usefixtures("git_identity")`)."""
    import gen

    for key, value in gen.GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def gosmith_env(git_identity: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """git_identity, a gosmith cache of the test's own and no GOSMITH_TEMPLATE_ROOT from the caller's shell
    (use with `pytestmark = pytest.mark.usefixtures("gosmith_env")`)."""
    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GOSMITH_TEMPLATE_ROOT", raising=False)


def _nested_repositories(root: Path) -> list[str]:
    """Return the untracked, unignored directories of the checkout that are git repositories of their own."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=normal"], cwd=root,
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    names = [line[3:].strip('"').rstrip("/") for line in out.splitlines() if line.startswith("?? ")]
    return sorted(name for name in names if (root / name / ".git").exists())


@pytest.fixture(autouse=True, scope="session")
def _ignore_nested_repositories(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A service generated into the checkout and `git init`-ed there (as its README says) must not break the suite.

    copier copies a dirty template checkout with `git add -A`, which records such a directory as a
    submodule without a URL and then fails (`No url found for submodule path`). Every git this
    session starts ignores those directories instead (an extra excludes file via GIT_CONFIG_*).
    """
    root = Path(__file__).resolve().parents[1]
    nested = _nested_repositories(root)
    if not nested:
        return
    excludes = tmp_path_factory.mktemp("git-excludes") / "exclude"
    excludes.write_text("".join(f"/{name}/\n" for name in nested))
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    extra = {"GIT_CONFIG_COUNT": str(count + 1), f"GIT_CONFIG_KEY_{count}": "core.excludesFile",
             f"GIT_CONFIG_VALUE_{count}": str(excludes)}
    os.environ.update(extra)
    try:  # copier runs git through plumbum, whose environment is a copy taken at import time
        from plumbum import local

        for key, value in extra.items():
            local.env[key] = value
    except ImportError:
        pass


@pytest.fixture(scope="session")
def kube_api(tmp_path_factory: pytest.TempPathFactory, monitoring_crds: dict[str, str]):  # type: ignore[no-untyped-def]
    """One real etcd + kube-apiserver for the whole run (built by scripts/kube-tools.sh), stopped at the end.

    It serves the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, as a cluster the generated
    charts' defaults (serviceMonitor.enabled, prometheusRule.enabled) install into must; a test that removes
    one puts it back with `server.serve_crds(monitoring_crds)`."""
    import apiserver

    if apiserver.binaries() is None:
        pytest.skip("kube-apiserver/etcd/kubectl not built: run scripts/kube-tools.sh (first build ~5 min)")
    server = apiserver.APIServer(tmp_path_factory.mktemp("kube-api"))
    try:
        server.start()
        server.serve_crds(monitoring_crds)
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


def unavailable_tools() -> dict[str, str]:
    """Return {tool: reason} for the tools scripts/tools.sh could not provide (.tools/unavailable)."""
    default = Path(__file__).resolve().parents[1] / ".tools" / "unavailable"
    path = Path(os.environ.get("GOSMITH_TOOLS_UNAVAILABLE") or default)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return {tool: reason for tool, _, reason in (line.partition("\t") for line in lines) if tool}


def pytest_report_header() -> list[str]:
    return [f"tool unavailable: {tool}: {reason}" for tool, reason in unavailable_tools().items()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """A test that fails or skips for want of a tool scripts/tools.sh could not provide is a skip with its reason."""
    import re

    outcome = yield
    report = outcome.get_result()
    if report.passed:
        return
    missing = unavailable_tools()
    if not missing:
        return
    text = str(report.longrepr)
    for tool, reason in missing.items():
        # the tool as a command ("helm not on PATH", ".tools/bin/helm"), not a path part ("deploy/helm/x")
        if re.search(rf"(?:(?<![\w./-])|bin/){re.escape(tool)}(?![\w/-])", text):
            report.outcome = "skipped"
            report.longrepr = (str(item.path), (item.location[1] or 0) + 1,
                               f"Skipped: {tool} unavailable: {reason}")
            return


#: controller-gen builds the ServiceMonitor CRD from the prometheus-operator Go API (the module proxy
#: does not serve the operator's root module with its CRD YAML files).
CONTROLLER_GEN = "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"


@pytest.fixture(scope="session")
def monitoring_crds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The prometheus-operator CRDs (YAML by kind), generated by controller-gen from its v0.95.2 Go API."""
    import gen

    if not gen.have("go"):
        pytest.skip("go not on PATH")
    src = gen.ROOT / "tests" / "tools" / "servicemonitor-check"  # its go.mod pins the operator's API module
    tools_bin = gen.ROOT / ".tools" / "bin"
    binary, stamp = tools_bin / "controller-gen", tools_bin / ".controller-gen.version"
    if not (binary.exists() and stamp.exists() and stamp.read_text() == CONTROLLER_GEN):
        gobin = tmp_path_factory.mktemp("gobin")
        gen.run(["go", "install", "-trimpath", "-ldflags", "-s -w", CONTROLLER_GEN], src,
                env={"CGO_ENABLED": "0", "GOBIN": str(gobin)})
        tools_bin.mkdir(parents=True, exist_ok=True)
        (gobin / "controller-gen").replace(binary)
        stamp.write_text(CONTROLLER_GEN)
    out = tmp_path_factory.mktemp("crds")
    api = "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
    gen.run([str(binary), "crd:maxDescLen=0", f"paths={api}", f"output:crd:dir={out}"], src)
    return {kind: (out / f"monitoring.coreos.com_{plural}.yaml").read_text()
            for kind, plural in (("ServiceMonitor", "servicemonitors"), ("PrometheusRule", "prometheusrules"))}


@pytest.fixture(scope="session")
def servicemonitor_crd_yaml(monitoring_crds: dict[str, str]) -> str:
    """The ServiceMonitor CRD (YAML) generated by controller-gen from the prometheus-operator v0.95.2 Go API."""
    return monitoring_crds["ServiceMonitor"]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real single-node Kubernetes cluster for the whole run (tests/cluster.py; tools built by
    scripts/cluster-tools.sh), torn down at the end: skipped with the reason when this machine cannot run it.

    The NetworkPolicy enforcer is always on, so every cluster test runs with the chart's NetworkPolicy
    enforced (tests/test_cluster.py's policy tests prove it is, each with a control)."""
    import cluster as cluster_harness

    reason = cluster_harness.missing(network_policy=True)
    if reason:
        pytest.skip(reason)
    running = cluster_harness.Cluster(tmp_path_factory.mktemp("cluster"), network_policy=True)
    try:
        running.start()
    except cluster_harness.Unavailable as exc:
        running.stop()
        pytest.skip(str(exc))
    except BaseException:
        running.stop()
        raise
    yield running
    running.stop()
    left = running.enforcer_leftovers()
    assert not left, f"stop() left the NetworkPolicy enforcer's rules behind: {left}"


#: The collector the collector-sidecar tests run: tests/tools/otelcol, built by scripts/tools.sh (same stamp).
OTELCOL_SRC = Path(__file__).resolve().parent / "tools" / "otelcol"


@pytest.fixture(scope="session")
def otelcol() -> Path:
    """The OpenTelemetry Collector binary of tests/tools/otelcol (built once per source change)."""
    import hashlib
    import os

    import gen

    if not gen.have("go"):
        pytest.skip("go not on PATH")
    digest = hashlib.sha256(
        b"".join((OTELCOL_SRC / f).read_bytes() for f in ("go.mod", "go.sum", "main.go"))
    ).hexdigest()
    tools_bin = gen.ROOT / ".tools" / "bin"
    binary, stamp = tools_bin / "otelcol", tools_bin / ".otelcol.sha256"
    if not (binary.exists() and stamp.exists() and stamp.read_text().strip() == digest):
        tools_bin.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")  # atomic: xdist workers may race
        gen.run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), "."], OTELCOL_SRC,
                env={"CGO_ENABLED": "0"})
        tmp.replace(binary)
        stamp.write_text(digest + "\n")
    return binary
