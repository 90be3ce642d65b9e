"""Helpers shared by the Kubernetes-client flavor tests (informer and controller): chart, helm, go.mod, envtest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apiserver
import k8s_checks as kc
import pytest
import yaml
from gen import GIT_IDENTITY, ROOT, run
from typer.testing import CliRunner

from gosmith.cli import app

TOOLS_BIN = ROOT / ".tools" / "bin"


def chart_of(project: Path) -> Path:
    """Return the project's one Helm chart."""
    (chart,) = (project / "deploy" / "helm").iterdir()
    return chart


def require(module: str, gomod: str) -> str | None:
    """Return the version go.mod requires of `module`, or None."""
    m = re.search(rf"^\s*{re.escape(module)} (v\S+)", gomod, re.M)
    return m[1] if m else None


def helm(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the suite's helm (skip when it is not built); fail with its output when `check` and it fails."""
    tool = shutil.which("helm", path=f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if tool is None:
        pytest.skip("helm not on PATH: run scripts/tools.sh")
    proc = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def template(chart: Path, *extra: str) -> list[dict[str, Any]]:
    """Return the objects `helm template` renders from `chart` in namespace shop."""
    out = helm("template", "rel", ".", "--namespace", "shop", "--kube-version", "1.37.0", *extra, cwd=chart).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def api_egress(objs: list[dict[str, Any]], ip: str, port: int) -> bool:
    """Whether the NetworkPolicy lets the service's pods reach `ip:port` (the API server's endpoint)."""
    labels = kc.pod_template(kc.one(objs, "Deployment"))["metadata"]["labels"]
    return kc.np_allows(kc.by_kind(objs, "NetworkPolicy"), "shop", labels, {}, "Egress", kc.Peer(ip=ip), port)


def kube_assets() -> str:
    """Return KUBEBUILDER_ASSETS for envtest: the suite's own API server build (skip when it is not built)."""
    if apiserver.binaries() is None:
        pytest.skip("kube-apiserver/etcd/kubectl not built: run scripts/kube-tools.sh (first build ~5 min)")
    return str(TOOLS_BIN)


def warnings_in(text: str) -> list[str]:
    """Return the lines of helm/kubectl output that are warnings."""
    return [line for line in text.splitlines() if re.search(r"(?i)\bwarning\b|^W\d{4} ", line)]


@dataclass
class TeamProject:
    """A project generated with `gosmith new`, committed, then changed by its team (an API constant, a values
    override) and committed again: what `gosmith update` must keep."""

    path: Path
    api: Path
    api_text: str
    values: Path


def team_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *new_args: str) -> TeamProject:
    """Generate `orders` (`gosmith new orders --defaults *new_args`), commit it, and commit the team's own work."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "orders"
    result = CliRunner().invoke(app, ["new", "orders", "--defaults", *new_args, "-o", str(project)],
                                catch_exceptions=False)
    assert result.exception is None and result.exit_code == 0, result.output
    run(["git", "init", "--quiet"], project)
    run(["git", "add", "--all"], project)
    run(["git", "commit", "--quiet", "-m", "generated"], project)
    api = project / "internal" / "api" / "api.go"
    edited = api.read_text() + "\n// Version is the API version the team added.\nconst Version = \"v1\"\n"
    api.write_text(edited)
    values = chart_of(project) / "values.yaml"
    values.write_text(re.sub(r"(?m)^replicaCount: \d+$", "replicaCount: 5", values.read_text(), count=1))
    run(["git", "commit", "--quiet", "-am", "local work"], project)
    return TeamProject(project, api, edited, values)


def update_to(project: TeamProject, kubernetes_client: str) -> dict[str, Any]:
    """`gosmith update -d kubernetes_client=...`; check it kept the team's work; return the chart's values."""
    result = CliRunner().invoke(app, ["update", str(project.path), "-d", f"kubernetes_client={kubernetes_client}"],
                                catch_exceptions=False)
    assert result.exception is None and result.exit_code == 0, result.output
    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert answers["kubernetes_client"] == kubernetes_client
    assert project.api.read_text() == project.api_text
    assert not list(project.path.rglob("*.rej"))
    values: dict[str, Any] = yaml.safe_load(project.values.read_text())
    assert values["replicaCount"] == 5
    return values
