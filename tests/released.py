"""Projects generated from the released template snapshots (releases/), for the upgrade and rollout tests."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import copier
import yaml
from gen import ROOT, run

from gosmith import materialise, versions

RELEASED = sorted(versions.releases(ROOT))
CURRENT = versions.current_version(ROOT)

#: Answer sets generated with the old release (answers that release knows).
OLD_ANSWERS: dict[str, dict[str, Any]] = {
    "defaults": {"service_name": "orders-api"},
    "limits": {
        "service_name": "billing-api",
        "module_path": "github.com/acme/billing-api",
        "cpu_limit": "500m",
        "memory_limit": "512Mi",
        "memory_request": "512Mi",
        "hot_reload": True,
        "otlp_protocol": "http",
        "replicas": 1,
    },
}


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; return stdout."""
    return run(["git", *args], cwd)


def generate(root: Path, version: Any, dst: Path, answers: dict[str, Any]) -> Path:
    """Generate `dst` from release `version` of the gosmith tree `root` (its release repository) and commit it."""
    built = materialise.materialise(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(built.repo), str(dst), data=answers, defaults=True, unsafe=True, quiet=True,
                        vcs_ref=versions.tag(version))
    assert yaml.safe_load((dst / ".copier-answers.yml").read_text())["_commit"] == versions.tag(version)
    git(dst, "init", "--quiet")
    git(dst, "add", "--all")
    git(dst, "commit", "--quiet", "-m", "generated")
    return dst


def generate_released(version: Any, dst: Path, answers: dict[str, Any]) -> Path:
    """Generate `dst` from this repository's released template `version` (the shipped snapshot) and commit it."""
    return generate(ROOT, version, dst, answers)


def values_path(project: Path) -> Path:
    """Return the project's Helm values.yaml."""
    return next((project / "deploy" / "helm").glob("*/values.yaml"))
