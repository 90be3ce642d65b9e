"""`gosmith check`: behind/current/ahead against the shipped template version, human and --json."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_update import NEW, OLD, add_template_line, cli, commit, generate_old, make_root


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Git identity for copier's temp commits and a private gosmith cache."""
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Test")
        monkeypatch.setenv(f"{key}_EMAIL", "test@example.com")
    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "cache"))


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
