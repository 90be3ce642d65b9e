"""Upgrade for real: projects generated from every released template snapshot move to the working
template with `gosmith update`, keep the users' own changes, and build, vet and test afterwards."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import copier
import k8s_checks as kc
import pytest
import yaml
from gen import ROOT, have, run
from released import CURRENT, OLD_ANSWERS, RELEASED, generate_released, git, values_path
from typer.testing import CliRunner

from gosmith import versions
from gosmith.cli import app

HANDLER = '''// Package hello is a handler the service team added after generation.
package hello

import "net/http"

// Handler answers every request with a greeting.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello\\n"))
	})
}
'''
USER_FUNC = '''
// localBanner is a helper the service team added at the end of main.go.
func localBanner() string { return "orders" }
'''
USER_README = "\n## Team notes\n\nOn-call: the orders team.\n"


pytestmark = pytest.mark.usefixtures("gosmith_env")  # git identity, own cache (conftest)


def user_edits(project: Path) -> None:
    """A new package, a function in main.go, a README section and a values override; committed."""
    (project / "internal" / "hello").mkdir()
    (project / "internal" / "hello" / "hello.go").write_text(HANDLER)
    main = next((project / "cmd").glob("*/main.go"))
    main.write_text(main.read_text() + USER_FUNC)
    readme = project / "README.md"
    text = readme.read_text()
    assert "\n## Run locally\n" in text
    readme.write_text(text.replace("\n## Run locally\n", USER_README + "\n## Run locally\n", 1))
    values = values_path(project)
    text = values.read_text()
    assert re.search(r"(?m)^replicaCount: \d+$", text)
    values.write_text(re.sub(r"(?m)^replicaCount: \d+$", "replicaCount: 4", text, count=1))
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "team changes")


def conflict_files(project: Path) -> list[str]:
    """Return the files outside .git that hold conflict markers or .rej leftovers."""
    found = []
    for path in project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        if path.suffix == ".rej":
            found.append(str(path.relative_to(project)))
            continue
        if re.search(r"(?m)^(<<<<<<<|>>>>>>>) ", path.read_text(errors="replace")):
            found.append(str(path.relative_to(project)))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not RELEASED, reason="no released template snapshot in releases/")
@pytest.mark.parametrize("answers_id", list(OLD_ANSWERS))
@pytest.mark.parametrize("released", RELEASED, ids=[str(v) for v in RELEASED])
def test_released_project_updates_to_working_template(tmp_path: Path, released: Any, answers_id: str) -> None:
    project = generate_released(released, tmp_path / "svc", OLD_ANSWERS[answers_id])
    before = yaml.safe_load((project / ".copier-answers.yml").read_text())
    old_render = helm_template(values_path(project).parent)
    user_edits(project)

    result = CliRunner().invoke(app, ["update", str(project)], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert f"updated from template {released} to {CURRENT}" in result.output
    assert conflict_files(project) == []
    after = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert after["_commit"] == versions.tag(CURRENT)
    # every answer the user gave survives (renamed ones under their new name, see hooks/migrations.py)
    for key, value in OLD_ANSWERS[answers_id].items():
        assert after[key] == value, key
    assert {k for k in before if not k.startswith("_")} <= set(after) | {"port"}
    # the users' own changes are all still there
    assert (project / "internal" / "hello" / "hello.go").read_text() == HANDLER
    assert USER_FUNC.strip() in next((project / "cmd").glob("*/main.go")).read_text()
    assert USER_README + "\n## Run locally\n" in (project / "README.md").read_text()
    values = yaml.safe_load(values_path(project).read_text())
    assert values["replicaCount"] == 4
    # the working template's files arrived: the project equals a fresh render plus the user's changes
    fresh = tmp_path / "fresh"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(ROOT), str(fresh), data={k: v for k, v in after.items() if not k.startswith("_")},
                        defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD")
    for path in fresh.rglob("*"):
        rel = path.relative_to(fresh)
        if not path.is_file() or rel.parts[0] == ".git" or rel.name == ".copier-answers.yml":
            continue
        assert (project / rel).is_file(), f"{rel} missing after the update"
        if rel.name in ("main.go", "README.md", "values.yaml"):
            continue  # edited by the user above
        assert (project / rel).read_text() == path.read_text(), f"{rel} differs from a fresh render"
    fresh_values = yaml.safe_load(values_path(fresh).read_text())
    assert {**fresh_values, "replicaCount": 4} == values
    # and the result is a working project
    if have("go"):
        run(["go", "vet", "./..."], project)
        run(["go", "build", "./..."], project)
        run(["go", "test", "./..."], project, timeout=1200)
    new_render = helm_template(values_path(project).parent)
    if new_render is not None and old_render is not None:
        assert any(o["kind"] == "Deployment" and o["spec"]["replicas"] == 4 for o in new_render)
        # a running release of the old chart upgrades in place, or the update printed the note that says how
        breaks = kc.check_upgrades_in_place(old_render, new_render)
        notes = [line for line in result.output.splitlines() if line.startswith("note: template ")]
        assert not breaks or notes, f"helm upgrade from {released} cannot replace pods in place: {breaks}"


def helm_template(chart: Path) -> list[dict[str, Any]] | None:
    """`helm template rel <chart>`'s objects, or None without helm."""
    helm = ROOT / ".tools" / "bin" / "helm"
    if not helm.exists():
        return None
    out = subprocess.run([str(helm), "template", "rel", str(chart)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [o for o in yaml.safe_load_all(out.stdout) if o]


def test_in_place_check_sees_a_changed_selector_and_a_rename() -> None:
    """The check above has teeth: a selector gaining a label and a renamed Service are reported."""
    deploy = {"kind": "Deployment", "metadata": {"name": "rel-svc"},
              "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "svc"}}}}
    service = {"kind": "Service", "metadata": {"name": "rel-svc"}, "spec": {"ports": []}}
    assert kc.check_upgrades_in_place([deploy, service], [deploy, service]) == []
    wider = {**deploy, "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "svc", "tier": "web"}}}}
    assert [p.split(" ")[0] for p in kc.check_upgrades_in_place([deploy], [wider])] == ["Deployment/rel-svc"]
    renamed = {**service, "metadata": {"name": "rel-svc-http"}}
    assert kc.check_upgrades_in_place([service], [renamed]) == ["Service/rel-svc is gone (renamed: ['rel-svc-http'])"]


def _files_with_cr(project: Path) -> list[str]:
    """Return the files outside .git holding a carriage return."""
    return sorted(str(p.relative_to(project)) for p in project.rglob("*")
                  if p.is_file() and ".git" not in p.relative_to(project).parts and b"\r" in p.read_bytes())


@pytest.mark.slow
@pytest.mark.skipif(not RELEASED, reason="no released template snapshot in releases/")
def test_update_keeps_lf_files_under_core_autocrlf(tmp_path: Path) -> None:
    """A user whose git config says core.autocrlf=true (common on Windows, sometimes copied to Linux) gets
    the same bytes as everyone else: `gosmith update` (a real process, so copier's git sees that config)
    checks the template and the project out byte for byte, and no file gains CRLF line ends."""
    project = generate_released(RELEASED[-1], tmp_path / "svc", OLD_ANSWERS["defaults"])
    assert _files_with_cr(project) == []
    config = tmp_path / "gitconfig"
    config.write_text("[core]\n\tautocrlf = true\n")
    gosmith = Path(sys.executable).parent / "gosmith"
    proc = subprocess.run([str(gosmith), "update", str(project)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GIT_CONFIG_GLOBAL": str(config)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"to {CURRENT}" in proc.stdout + proc.stderr
    assert _files_with_cr(project) == []
