"""`gosmith check`: behind/current/ahead/unknown against the shipped template version, human and --json."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import copier
import pytest
import yaml
from template_history import NEW, OLD, add_template_line, cli, commit, copy_template, generate_old, git, make_root

pytestmark = pytest.mark.usefixtures("gosmith_env")  # git identity, own cache (conftest)




@pytest.fixture
def old_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project generated at template OLD while gosmith ships NEW."""
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    return generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})


def test_behind_then_current_in_both_forms(old_project: Path) -> None:
    human = cli("check", str(old_project))
    assert human.exit_code == 1, human.output
    assert human.output.strip() == (
        f"{old_project}: behind: template {OLD}, gosmith ships {NEW}; run `gosmith update`"
    )
    as_json = cli("check", str(old_project), "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.output) == {
        "path": str(old_project), "project_version": OLD, "template_version": NEW,
        "status": "behind", "update_available": True,
    }

    updated = cli("update", str(old_project))
    assert updated.exit_code == 0, updated.output
    commit(old_project, "update")

    human = cli("check", str(old_project))
    assert human.exit_code == 0, human.output
    assert human.output.strip() == f"{old_project}: current: template {NEW}"
    data = json.loads(cli("check", str(old_project), "--json").output)
    assert data["status"] == "current" and data["project_version"] == NEW and data["update_available"] is False


def test_check_needs_neither_git_nor_the_recorded_source(old_project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "exported"
    shutil.copytree(old_project, copy, ignore=shutil.ignore_patterns(".git"))
    answers = copy / ".copier-answers.yml"
    answers.write_text(re.sub(r"(?m)^_src_path: .*$", "_src_path: /nowhere", answers.read_text()))
    result = cli("check", str(copy), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["status"] == "behind"


def test_ahead_and_untagged_commits(old_project: Path) -> None:
    answers = old_project / ".copier-answers.yml"
    text = answers.read_text()
    answers.write_text(re.sub(r"(?m)^_commit: .*$", "_commit: v9.0.0", text))
    ahead = cli("check", str(old_project), "--json")
    assert ahead.exit_code == 0
    assert json.loads(ahead.output)["status"] == "ahead"
    # a copy from an untagged template commit after the NEW tag counts as NEW.postN: not behind
    answers.write_text(re.sub(r"(?m)^_commit: .*$", f"_commit: v{NEW}-2-gabc1234", text))
    post = cli("check", str(old_project))
    assert post.exit_code == 0 and "ahead" in post.output
    answers.write_text(re.sub(r"(?m)^_commit: .*$", f"_commit: v{OLD}-2-gabc1234", text))
    assert cli("check", str(old_project)).exit_code == 1


def test_missing_or_foreign_answers_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = cli("check", str(empty))
    assert missing.exit_code == 2 and "no .copier-answers.yml" in missing.output
    (empty / ".copier-answers.yml").write_text("_commit: v1.0.0\n_src_path: gh:acme/other\nname: x\n")
    foreign = cli("check", str(empty), "--json")
    assert foreign.exit_code == 2 and "another template" in foreign.output


def untagged_checkout_copy(tmp_path: Path, change: bool = False) -> tuple[Path, Path, str]:
    """Plain `copier copy` of an untagged template checkout (today's template = OLD, or OLD plus a local change).

    Returns the checkout, the committed project and the commit id copier recorded as `_commit`.
    """
    checkout = copy_template(tmp_path / "checkout")
    if change:
        add_template_line(checkout, "// A local change that no gosmith release has.")
    git(checkout, "init", "--quiet")
    commit(checkout, "template work")
    project = tmp_path / "plain"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(checkout), str(project), data={"service_name": "orders-api"}, defaults=True,
                        unsafe=True, quiet=True)
    sha = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    assert re.fullmatch(r"[0-9a-f]{7,}", sha) and git(checkout, "rev-parse", "HEAD").startswith(sha)
    git(project, "init", "--quiet")
    commit(project, "generated")
    return checkout, project, sha


def test_commit_id_of_a_checkout_is_the_version_whose_files_it_holds(old_project: Path, tmp_path: Path) -> None:
    """check and update agree on a commit id recorded by plain copier: both place it at OLD."""
    _, project, sha = untagged_checkout_copy(tmp_path)
    human = cli("check", str(project))
    assert human.exit_code == 1, human.output
    assert human.output.strip() == (
        f"{project}: behind: template {OLD} (commit {sha}), gosmith ships {NEW}; run `gosmith update`"
    )
    data = json.loads(cli("check", str(project), "--json").output)
    assert data == {"path": str(project), "project_version": OLD, "template_version": NEW, "status": "behind",
                    "update_available": True, "commit": sha}

    updated = cli("update", str(project))
    assert updated.exit_code == 0, updated.output
    assert f"updated from template {OLD} to {NEW}" in updated.output
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == f"v{NEW}" and answers["_src_path"] == "~/.cache/gosmith/template"
    commit(project, "update")
    assert cli("check", str(project)).output.strip() == f"{project}: current: template {NEW}"


def test_unknown_commit_id_exits_3(old_project: Path, tmp_path: Path) -> None:
    """A commit id whose files are no shipped version: check says unknown (exit 3); update uses the recorded source."""
    checkout, project, sha = untagged_checkout_copy(tmp_path, change=True)
    human = cli("check", str(project))
    assert human.exit_code == 3, human.output
    assert human.output.strip().startswith(f"{project}: unknown: recorded template ref {sha} ")
    assert "run `gosmith update`" in human.output
    data = json.loads(cli("check", str(project), "--json").output)
    assert data["status"] == "unknown" and data["update_available"] is None and data["project_version"] == sha

    # update follows the recorded source, as plain copier would: reachable here, so it runs ...
    updated = cli("update", str(project), "--pretend")
    assert updated.exit_code == 0, updated.output
    # ... and without it, check still answers (unknown, not a refusal) while update refuses with the reason.
    shutil.rmtree(checkout)
    assert cli("check", str(project)).exit_code == 3
    refused = cli("update", str(project))
    assert refused.exit_code == 2 and "unreachable" in refused.output
