"""`gosmith update` on real git repos: user edits survive, template changes land, conflicts are reported.

Every test builds its own template history: a gosmith source tree in a tmp dir whose
`releases/0.0.9/` is the working template as it is today (the "previous release") and whose
working template (version 0.1.0) carries a change made by the test. gosmith is pointed at that
tree with GOSMITH_TEMPLATE_ROOT and at a fresh cache with GOSMITH_CACHE_DIR.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from gen import ROOT, run
from template_history import (
    HANDLER,
    HANDLER_TEST,
    NEW,
    OLD,
    TEMPLATE_LINE,
    USER_FUNC,
    USER_LINE,
    add_template_file,
    add_template_line,
    cli,
    commit,
    copy_template,
    generate_old,
    git,
    make_root,
)
from typer.testing import CliRunner

from gosmith import materialise, versions

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("gosmith_env")  # git identity, own cache (conftest)




def values_yaml(project: Path) -> Path:
    """Return the project's Helm values.yaml."""
    return next((project / "deploy" / "helm").glob("*/values.yaml"))


def user_edits(project: Path) -> None:
    """A new handler package, a function at the end of main.go, a values.yaml override; committed."""
    pkg = project / "internal" / "hello"
    pkg.mkdir(parents=True)
    (pkg / "hello.go").write_text(HANDLER)
    (pkg / "hello_test.go").write_text(HANDLER_TEST)
    main = next((project / "cmd").glob("*/main.go"))
    main.write_text(main.read_text() + USER_FUNC)
    values = values_yaml(project)
    text = values.read_text()
    assert re.search(r"(?m)^replicaCount: \d+$", text)
    values.write_text(re.sub(r"(?m)^replicaCount: \d+$", "replicaCount: 7", text, count=1))
    commit(project, "local work")


def has_markers(project: Path) -> list[str]:
    """Return files (outside .git) that contain conflict markers."""
    found = []
    for path in project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if re.search(r"(?m)^(<<<<<<<|>>>>>>>) ", text):
            found.append(str(path.relative_to(project)))
    return found


def assert_user_edits_kept(project: Path) -> None:
    """The handler package, the main.go function and the values override are all still there."""
    assert (project / "internal" / "hello" / "hello.go").read_text() == HANDLER
    assert (project / "internal" / "hello" / "hello_test.go").read_text() == HANDLER_TEST
    assert USER_FUNC.strip() in next((project / "cmd").glob("*/main.go")).read_text()
    assert re.search(r"(?m)^replicaCount: 7$", values_yaml(project).read_text())


def recorded(project: Path) -> dict[str, Any]:
    """Return the project's answers file."""
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def with_changes(root: Path) -> None:
    """The NEW version's template change: a line in main.go and a new package."""
    add_template_line(root)
    add_template_file(root)


@pytest.mark.slow
def test_update_keeps_user_edits_applies_template_change_and_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_root(tmp_path, change=with_changes)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    assert TEMPLATE_LINE not in (project / "cmd" / "orders-api" / "main.go").read_text()
    user_edits(project)

    result = cli("update", str(project))

    assert result.exit_code == 0, result.output
    assert f"updated from template {OLD} to {NEW}" in result.output
    assert "added    internal/buildnote/note.go" in result.output
    assert "changed  cmd/orders-api/main.go" in result.output
    assert "conflict" not in result.output
    main = (project / "cmd" / "orders-api" / "main.go").read_text()
    assert TEMPLATE_LINE in main
    assert (project / "internal" / "buildnote" / "note.go").is_file()
    assert_user_edits_kept(project)
    assert has_markers(project) == []
    assert not list(project.rglob("*.rej"))
    assert recorded(project)["_commit"] == f"v{NEW}"
    for cmd in (["go", "build", "./..."], ["go", "vet", "./..."], ["go", "test", "./..."]):
        run(cmd, project)
    assert run(["gofmt", "-l", "."], project).strip() == ""


def test_conflict_inline_reports_path_and_keeps_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=with_changes)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    user_edits(project)
    main = project / "cmd" / "orders-api" / "main.go"
    main.write_text(re.sub(r"(?m)^package main$", f"package main\n\n{USER_LINE}", main.read_text(), count=1))
    commit(project, "user comment where the template adds one")

    result = cli("update", str(project))

    assert result.exit_code == 1, result.output
    assert "conflict cmd/orders-api/main.go" in result.output
    text = main.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert USER_LINE in text and TEMPLATE_LINE in text
    assert has_markers(project) == ["cmd/orders-api/main.go"]
    assert_user_edits_kept(project)
    assert (project / "internal" / "buildnote" / "note.go").is_file()  # the rest of the update landed
    # git knows the file is conflicted, as after a merge: its three stages are in the project's index
    stages = git(project, "ls-files", "-u", "--", "cmd/orders-api/main.go").splitlines()
    assert sorted(line.split()[2] for line in stages) == ["1", "2", "3"], stages
    assert git(project, "status", "--porcelain", "--", "cmd/orders-api/main.go").startswith("UU ")
    ours = git(project, "show", ":2:cmd/orders-api/main.go")
    assert USER_LINE in ours and "<<<<<<<" not in ours


def test_interrupted_or_failed_update_leaves_the_project_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copier runs on a clone: Ctrl-C or a copier error during the update writes nothing into the project."""
    import gosmith.update

    root = make_root(tmp_path, change=with_changes)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    head = git(project, "rev-parse", "HEAD")
    real = gosmith.update._run_copier

    def copier_then(exc: BaseException):  # copier has written the clone's files, then fails
        def run(project_path: Path, *args: Any) -> None:
            real(project_path, *args)
            assert (project_path / "internal" / "buildnote" / "note.go").is_file()
            raise exc
        return run

    for exc, code in ((KeyboardInterrupt(), 130), (gosmith.update.UserError("copier update failed: boom"), 2)):
        monkeypatch.setattr(gosmith.update, "_run_copier", copier_then(exc))
        result = cli("update", str(project))
        assert result.exit_code == code, result.output
        assert git(project, "status", "--porcelain", "--ignored") == ""
        assert git(project, "rev-parse", "HEAD") == head
        assert not (project / "internal" / "buildnote").exists()


def test_conflict_rej_leaves_rej_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    main = project / "cmd" / "orders-api" / "main.go"
    main.write_text(re.sub(r"(?m)^package main$", f"package main\n\n{USER_LINE}", main.read_text(), count=1))
    commit(project, "user comment")

    result = cli("update", str(project), "--conflict", "rej")

    assert result.exit_code == 1, result.output
    assert "conflict cmd/orders-api/main.go" in result.output
    assert (project / "cmd" / "orders-api" / "main.go.rej").is_file()
    # rej mode: the file holds the new template, the user's rejected hunk waits in the .rej file
    assert USER_LINE in (project / "cmd" / "orders-api" / "main.go.rej").read_text()
    assert TEMPLATE_LINE in main.read_text()


def test_data_change_rerenders_derived_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api", "memory_limit": "512Mi"})
    user_edits(project)
    before = values_yaml(project).read_text()

    result = cli("update", str(project), "--data", "memory_limit=2Gi", "--data", "http_port=8181")

    assert result.exit_code == 0, result.output
    answers = recorded(project)
    assert answers["memory_limit"] == "2Gi" and answers["http_port"] == 8181
    from gosmith.answers import resolve
    from gosmith.template import rules

    old_tuned = rules().tuning.derive(resolve({**answers, "memory_limit": "512Mi", "http_port": 8080})).values
    new_tuned = rules().tuning.derive(resolve(answers)).values
    assert new_tuned["gomemlimit"] != old_tuned["gomemlimit"]
    after = values_yaml(project).read_text()
    # the chart's real inputs follow the answer (the service derives GOMEMLIMIT from the limit at run time) ...
    assert yaml.safe_load(before)["resources"]["limits"]["memory"] == "512Mi"
    assert yaml.safe_load(after)["resources"]["limits"]["memory"] == "2Gi"
    # ... and the tuning notes in the values header are re-derived too
    assert f"gomemlimit: {old_tuned['gomemlimit']!s}" in before.replace('"', "")
    assert f"gomemlimit: {new_tuned['gomemlimit']!s}" in after.replace('"', "")
    assert ":8181" in (project / "internal" / "config" / "config.go").read_text()
    assert_user_edits_kept(project)
    assert TEMPLATE_LINE in (project / "cmd" / "orders-api" / "main.go").read_text()

    # An answer change without a version change re-renders too.
    commit(project, "update")
    again = cli("update", str(project), "--data", "http_port=8282")
    assert again.exit_code == 0, again.output
    assert f"updated from template {NEW} to {NEW}" in again.output
    assert ":8282" in (project / "internal" / "config" / "config.go").read_text()
    assert recorded(project)["http_port"] == 8282
    assert_user_edits_kept(project)


def _rename_http_port_to_port(root: Path) -> None:
    """The OLD template called the application port `port` (renamed to `http_port` in NEW)."""
    for path in [root / "copier.yml", *(p for p in (root / "template").rglob("*.jinja"))]:
        text = path.read_text()
        path.write_text(re.sub(r"\bhttp_port\b", "port", text))


def test_migration_maps_renamed_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=add_template_line, old_change=_rename_http_port_to_port)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api", "port": 8181})
    assert recorded(project)["port"] == 8181 and "http_port" not in recorded(project)

    result = cli("update", str(project))

    assert result.exit_code == 0, result.output
    answers = recorded(project)
    assert answers["http_port"] == 8181
    assert "port" not in answers
    assert ":8181" in (project / "internal" / "config" / "config.go").read_text()
    assert has_markers(project) == []


def _add_legacy_file(root: Path) -> None:
    """The OLD template had a file that NEW removed."""
    legacy = root / "template" / "internal" / "legacy"
    legacy.mkdir(parents=True)
    (legacy / "legacy.go").write_text("// Package legacy is gone in 0.1.0.\npackage legacy\n")


def test_offline_with_unreachable_recorded_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=with_changes, old_change=_add_legacy_file)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    assert (project / "internal" / "legacy" / "legacy.go").is_file()
    (project / "README.md").unlink()  # the team deleted a generated file: it must stay deleted
    answers_file = project / ".copier-answers.yml"
    answers_file.write_text(re.sub(r"(?m)^_src_path: .*$", "_src_path: https://gosmith.invalid/template.git",
                                   answers_file.read_text()))
    commit(project, "generated on another machine")
    shutil.rmtree(tmp_path / "cache")  # nothing cached either: as on a fresh machine
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")  # git may not touch the network at all

    result = cli("update", str(project))

    assert result.exit_code == 0, result.output
    assert TEMPLATE_LINE in (project / "cmd" / "orders-api" / "main.go").read_text()
    assert recorded(project)["_commit"] == f"v{NEW}"
    assert "removed  internal/legacy/legacy.go" in result.output
    assert not (project / "internal" / "legacy").exists()
    assert not (project / "README.md").exists()


def test_project_of_gosmith_0_1_0_moves_to_the_portable_source_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gosmith 0.1.0 recorded an absolute per-digest cache path; update works offline and records `~/...`."""
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    answers_file = project / ".copier-answers.yml"
    legacy = "/home/alice/.cache/gosmith/template-0123456789abcdef0123"
    answers_file.write_text(re.sub(r"(?m)^_src_path: .*$", f"_src_path: {legacy}", answers_file.read_text()))
    commit(project, "generated by gosmith 0.1.0 on alice's machine")
    shutil.rmtree(tmp_path / "cache")
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")

    pretend = cli("update", str(project), "--pretend")
    assert pretend.exit_code == 0 and "changed  .copier-answers.yml" in pretend.output, pretend.output
    result = cli("update", str(project))

    assert result.exit_code == 0, result.output
    assert TEMPLATE_LINE in (project / "cmd" / "orders-api" / "main.go").read_text()
    text = answers_file.read_text()
    assert recorded(project)["_src_path"] == "~/.cache/gosmith/template" and recorded(project)["_commit"] == f"v{NEW}"
    assert legacy not in text and str(tmp_path) not in text


def test_unknown_commit_with_unreachable_source_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    answers_file = project / ".copier-answers.yml"
    text = re.sub(r"(?m)^_commit: .*$", "_commit: v0.0.9-3-gdeadbee", answers_file.read_text())
    answers_file.write_text(re.sub(r"(?m)^_src_path: .*$", f"_src_path: {tmp_path / 'gone'}", text))
    commit(project, "from an untagged checkout")

    result = cli("update", str(project))

    assert result.exit_code == 2
    assert "not a release this gosmith ships" in result.output


def test_pretend_reports_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=with_changes)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    head = git(project, "rev-parse", "HEAD")

    result = cli("update", str(project), "--pretend")

    assert result.exit_code == 0, result.output
    assert f"would update from template {OLD} to {NEW}" in result.output
    assert "added    internal/buildnote/note.go" in result.output
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head
    assert TEMPLATE_LINE not in (project / "cmd" / "orders-api" / "main.go").read_text()


def test_to_older_known_version_and_unknown_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})

    same = cli("update", str(project), "--to", OLD)
    assert same.exit_code == 0, same.output
    assert f"already at template {OLD}" in same.output
    assert git(project, "status", "--porcelain") == ""

    unknown = cli("update", str(project), "--to", "9.9.9")
    assert unknown.exit_code == 2
    assert f"ships template versions {OLD}, {NEW}" in unknown.output


def _refusal(result: Any, fragment: str) -> None:
    """Exit 2 with a one-line reason containing `fragment`."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.output


def test_refuses_dirty_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    (project / "scratch.txt").write_text("work in progress\n")
    _refusal(cli("update", str(project)), "uncommitted changes (scratch.txt)")
    assert TEMPLATE_LINE not in (project / "cmd" / "orders-api" / "main.go").read_text()


def test_refuses_missing_foreign_and_untracked_projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    empty = tmp_path / "empty"
    empty.mkdir()
    _refusal(cli("update", str(empty)), "no .copier-answers.yml")

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / ".copier-answers.yml").write_text("_commit: v1.0.0\n_src_path: gh:acme/other\nproject_name: x\n")
    git(foreign, "init", "--quiet")
    commit(foreign, "other template")
    _refusal(cli("update", str(foreign)), "another template")

    uncommitted = tmp_path / "nocommit"
    uncommitted.mkdir()
    (uncommitted / ".copier-answers.yml").write_text("_src_path: /x\nservice_name: a\nmodule_path: b\n")
    _refusal(cli("update", str(uncommitted)), "no _commit recorded")

    nogit = tmp_path / "nogit"
    shutil.copytree(generate_old(root, tmp_path / "svc", {"service_name": "orders-api"}), nogit,
                    ignore=shutil.ignore_patterns(".git"))
    _refusal(cli("update", str(nogit)), "not in a git repository")

    bad = cli("update", str(nogit), "--data", "no_such_question=1")
    _refusal(bad, "no_such_question")


def test_plain_copier_update_from_tagged_template_repo(tmp_path: Path) -> None:
    """Without gosmith: copier copy/update from the template's own git repo (tags made here) keep working."""
    repo = copy_template(tmp_path / "tpl")
    _rename_http_port_to_port(repo)
    git(repo, "init", "--quiet")
    commit(repo, "0.0.9")
    git(repo, "tag", f"v{OLD}")
    shutil.rmtree(repo / "template")
    shutil.rmtree(repo / "hooks")
    (repo / "copier.yml").unlink()
    copy_template(repo)
    add_template_line(repo)
    commit(repo, "0.1.0")
    git(repo, "tag", f"v{NEW}")
    project = tmp_path / "svc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(repo), str(project), data={"service_name": "orders-api", "port": 8181},
                        defaults=True, unsafe=True, quiet=True, vcs_ref=f"v{OLD}")
        git(project, "init", "--quiet")
        commit(project, "generated")
        copier.run_update(str(project), defaults=True, overwrite=True, unsafe=True, quiet=True)
    answers = recorded(project)
    assert answers["_commit"] == f"v{NEW}" and answers["http_port"] == 8181 and "port" not in answers
    assert TEMPLATE_LINE in (project / "cmd" / "orders-api" / "main.go").read_text()


def test_tasks_and_migrations_are_offline_safe() -> None:
    """Updates render in temp dirs (no git, maybe no network): tasks must be copy-only, migrations stdlib-only."""
    import ast

    config = yaml.safe_load((ROOT / "copier.yml").read_text())
    scripts = []
    for task in config.get("_tasks", []):
        spec = task if isinstance(task, dict) else {"command": task}
        command = spec["command"]
        if isinstance(command, list) and command[0] == "{{ _copier_python }}" and str(command[-2]).endswith(
                "/hooks/module_path.py"):
            scripts.append("module_path.py")  # runs in every render of an update: a pure file rewrite
            continue
        assert "_copier_operation == 'copy'" in str(spec.get("when", "")).replace('"', "'"), spec
    migrations = config.get("_migrations", [])
    assert migrations, "copier.yml must declare the answers migration"
    for migration in migrations:
        command = migration["command"]
        assert command[0] == "{{ _copier_python }}" and command[1].endswith("/hooks/migrations.py"), command
    for script in ["migrations.py", *scripts]:
        tree = ast.parse((ROOT / "hooks" / script).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported and imported <= set(sys.stdlib_module_names), (script, imported)
        assert "subprocess" not in imported and "urllib" not in imported and "socket" not in imported, script

def test_invalid_data_is_refused_before_anything_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=add_template_line)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    _refusal(cli("update", str(project), "--data", "http_port=not-a-port"), "http_port")
    _refusal(cli("update", str(project), "--data", "admin_port=8080"), "admin_port")
    assert git(project, "status", "--porcelain", "--ignored") == ""


def test_project_in_a_monorepo_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, change=with_changes)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    mono = tmp_path / "mono"
    (mono / "docs").mkdir(parents=True)
    (mono / "docs" / "index.md").write_text("# Company services\n")
    git(mono, "init", "--quiet")
    built = materialise.materialise(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(built.repo), str(mono / "services" / "orders"), data={"service_name": "orders-api"},
                        defaults=True, unsafe=True, quiet=True, vcs_ref=versions.tag(OLD))
    commit(mono, "monorepo with one service")
    project = mono / "services" / "orders"
    user_edits(project)

    result = cli("update", str(project))

    assert result.exit_code == 0, result.output
    assert "added    internal/buildnote/note.go" in result.output  # paths relative to the project
    assert (project / "internal" / "buildnote" / "note.go").is_file()
    assert TEMPLATE_LINE in (project / "cmd" / "orders-api" / "main.go").read_text()
    assert_user_edits_kept(project)
    assert (mono / "docs" / "index.md").read_text() == "# Company services\n"
    assert git(mono, "status", "--porcelain", "--", "docs") == ""



def test_byte_exact_checkouts_outrank_the_users_config_and_are_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside git.byte_exact_checkouts() a git started by gosmith or by copier (plumbum) checks out LF bytes
    although the user's config says core.autocrlf=true; afterwards both environments are as before."""
    from plumbum import local

    from gosmith import git as gitmod

    config = tmp_path / "gitconfig"
    config.write_text("[core]\n\tautocrlf = true\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setitem(local.env, "GIT_CONFIG_GLOBAL", str(config))
    before = (dict(os.environ), dict(local.env))
    with gitmod.byte_exact_checkouts():
        assert gitmod.text(["config", "core.autocrlf"], tmp_path).strip() == "false"
        assert local["git"]["-C", str(tmp_path), "config", "core.autocrlf"]().strip() == "false"
    assert (dict(os.environ), dict(local.env)) == before
    assert gitmod.text(["config", "core.autocrlf"], tmp_path).strip() == "true"
