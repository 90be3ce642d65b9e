"""Helpers shared by the Kubernetes-client flavor tests (informer and controller): chart, helm, go.mod, envtest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import apiserver
import k8s_checks as kc
import pytest
import yaml
from gen import ROOT

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
        pytest.skip("kube-apiserver/etcd/kubectl not built: run scripts/kube-tools.sh (first build ~30 min)")
    return str(TOOLS_BIN)


def warnings_in(text: str) -> list[str]:
    """Return the lines of helm/kubectl output that are warnings."""
    return [line for line in text.splitlines() if re.search(r"(?i)\bwarning\b|^W\d{4} ", line)]
