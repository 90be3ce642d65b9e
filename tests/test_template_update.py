"""Scheduled template updates of generated repositories: the workflow's logic (scripts/template-update.sh), run
locally against projects generated from the released templates and the working one, with this gosmith."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import copier
import pytest
import yaml
from gen import ROOT, run

from gosmith import materialise, versions

SCRIPT = ROOT / "template" / "scripts" / "template-update.sh"
RELEASED = sorted(versions.releases(ROOT))
CURRENT = versions.current_version(ROOT)
GOSMITH_BIN = Path(sys.executable).parent
#: A line the user changed in the Makefile that the template changed since 0.1.0 (make run).
OLD_RUN_LINE = "\tgo run -ldflags '$(LDFLAGS)' ./cmd/$(SERVICE)\n"
USER_RUN_LINE = "\tgo run -race -ldflags '$(LDFLAGS)' ./cmd/$(SERVICE)\n"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Test")
        monkeypatch.setenv(f"{key}_EMAIL", "test@example.com")
    monkeypatch.delenv("GOSMITH_TEMPLATE_ROOT", raising=False)


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd)


def commit_all(project: Path, message: str) -> None:
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", message)


def generate_release(dst: Path, version: object) -> Path:
    """Generate a project from released template `version` (as gosmith of that release did) and commit it."""
    built = materialise.materialise(ROOT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(built.repo), str(dst), data={"service_name": "orders-api"}, defaults=True, unsafe=True,
                        quiet=True, vcs_ref=versions.tag(version))
    commit_all(dst, "generated")
    return dst


def template_update(project: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the workflow's script on `project` as the workflow does; return the process and its outputs."""
    outputs = tmp_path / "github-output"
    outputs.write_text("")
    env = {**os.environ, "PATH": f"{GOSMITH_BIN}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(outputs),
           "PR_BODY": str(tmp_path / "pr-body.md")}
    proc = subprocess.run(["bash", str(SCRIPT), str(project)], env=env, capture_output=True, text=True, timeout=600)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    return proc, values


def edit_make_run(project: Path) -> None:
    makefile = project / "Makefile"
    text = makefile.read_text()
    assert OLD_RUN_LINE in text
    makefile.write_text(text.replace(OLD_RUN_LINE, USER_RUN_LINE))
    git(project, "commit", "--quiet", "-am", "make run with the race detector")


def tracked_markers(project: Path) -> str:
    return subprocess.run(["git", "grep", "-n", "-E", "^(<<<<<<<|>>>>>>>) "], cwd=project, capture_output=True,
                          text=True).stdout


needs_release = pytest.mark.skipif(not RELEASED, reason="no released template snapshot")


def test_current_project_is_left_alone(tmp_path: Path) -> None:
    project = tmp_path / "svc"
    run([str(GOSMITH_BIN / "gosmith"), "new", "svc", "--defaults", "-o", str(project)], tmp_path)
    commit_all(project, "generated")
    head = git(project, "rev-parse", "HEAD")
    proc, outputs = template_update(project, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs == {"behind": "false"}
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "branch", "--show-current").strip() == "main"


@needs_release
def test_behind_project_gets_a_branch_with_the_whole_update(tmp_path: Path) -> None:
    project = generate_release(tmp_path / "svc", RELEASED[0])
    proc, outputs = template_update(project, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs == {"behind": "true", "version": str(CURRENT), "branch": f"gosmith/template-{CURRENT}",
                       "conflicts": "0"}
    assert git(project, "branch", "--show-current").strip() == outputs["branch"]
    assert git(project, "status", "--porcelain") == ""
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == f"v{CURRENT}"
    assert (project / ".github" / "workflows" / "template-update.yml").is_file()  # the update brings the workflow
    body = (tmp_path / "pr-body.md").read_text()
    assert f"gosmith template **{CURRENT}**" in body and "No conflicts" in body
    check = subprocess.run([str(GOSMITH_BIN / "gosmith"), "check", "--json", str(project)], capture_output=True,
                           text=True)
    assert check.returncode == 0 and json.loads(check.stdout)["status"] == "current"


@needs_release
def test_conflicts_are_listed_in_the_pull_request_not_committed(tmp_path: Path) -> None:
    project = generate_release(tmp_path / "svc", RELEASED[0])
    edit_make_run(project)
    proc, outputs = template_update(project, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["behind"] == "true" and outputs["conflicts"] == "1", outputs
    body = (tmp_path / "pr-body.md").read_text()
    section = body.split("### `Makefile`", 1)[1]
    # the rejected hunk is the user's own change, to re-apply on top of the template's new Makefile
    assert "```diff" in section and f"+{USER_RUN_LINE.strip()}" in section.replace("+\t", "+"), body[-3000:]
    assert "Resolve the conflicts (the .rej files)" not in body
    # the branch: no markers, no .rej, the template's version of the conflicting file
    assert git(project, "status", "--porcelain", "--ignored", "--untracked-files=all").strip() == ""
    assert tracked_markers(project) == ""
    assert not list(project.rglob("*.rej"))
    makefile = (project / "Makefile").read_text()
    assert USER_RUN_LINE not in makefile and "\t./bin/$(SERVICE)\n" in makefile
    assert git(project, "log", "-1", "--format=%s").strip() == f"Update to gosmith template {CURRENT}"
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == f"v{CURRENT}"


@needs_release
@pytest.mark.parametrize("mode", ["inline", "rej"])
def test_gosmith_update_exits_non_zero_while_conflicts_remain(tmp_path: Path, mode: str) -> None:
    project = generate_release(tmp_path / "svc", RELEASED[0])
    edit_make_run(project)
    proc = subprocess.run([str(GOSMITH_BIN / "gosmith"), "update", "--conflict", mode, str(project)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"(?m)^  conflict Makefile$", proc.stdout), proc.stdout
    if mode == "inline":
        assert "Makefile" in tracked_markers(project)
    else:
        assert (project / "Makefile.rej").is_file()


def test_the_generated_workflow_runs_the_script_weekly_and_on_demand(tmp_path: Path) -> None:
    project = tmp_path / "svc"
    run([str(GOSMITH_BIN / "gosmith"), "new", "svc", "--defaults", "-o", str(project)], tmp_path)
    workflow = yaml.safe_load((project / ".github/workflows/template-update.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads `on` as a boolean
    assert "workflow_dispatch" in triggers and re.fullmatch(r"\d+ \d+ \* \* \d", triggers["schedule"][0]["cron"])
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["update"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    steps = yaml.safe_dump(job["steps"])
    assert "bash scripts/template-update.sh" in steps and "gh pr create" in steps and "gh pr edit" in steps
    assert "steps.update.outputs.behind == 'true'" in steps
    script = project / "scripts" / "template-update.sh"
    assert script.read_text() == SCRIPT.read_text() and os.access(script, os.X_OK)
