"""The committed golden renders in tests/golden: current with the template, and the Go code in them is clean.

The drift test renders every answer set of scripts/golden.py (the way `make golden` does) and
compares it with the committed tree, printing the unified diff of what drifted. The slow tests build,
vet, test and lint copies of the committed trees themselves, so what reviewers read is what is checked;
the controller flavor's tree is vetted, gofmt-checked and built only (tests/test_controller_flavor.py
runs its tests against a real API server and lints it).
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path

import pytest
from gen import ROOT, have, load_module, run

golden = load_module(ROOT / "scripts" / "golden.py", "golden_script")
GOLDEN = ROOT / "tests" / "golden"
#: The sets whose Go tests and lint run here (the controller flavor's run in tests/test_controller_flavor.py).
TESTED_HERE = sorted(name for name in golden.SETS if name != "controller")
#: At most this many lines of unified diff in a drift failure.
DIFF_LINES = 200


def drift(committed: Path, rendered: Path) -> list[str]:
    """Return one line per path that differs between two trees (presence, bytes, executable bit)."""
    want, got = golden.tree(rendered), golden.tree(committed) if committed.is_dir() else {}
    lines: list[str] = []
    for rel in sorted(want.keys() | got.keys()):
        if rel not in got:
            lines.append(f"not committed: {rel}")
        elif rel not in want:
            lines.append(f"no longer rendered: {rel}")
        elif want[rel][0] != got[rel][0]:
            lines.append(f"content differs: {rel}")
        elif want[rel][1] != got[rel][1]:
            lines.append(f"executable bit differs (rendered {'+x' if want[rel][1] else '-x'}): {rel}")
    return lines


def unified(committed: Path, rendered: Path, name: str, limit: int = DIFF_LINES) -> str:
    """Return the unified diff from the committed tree to the render, cut after `limit` lines."""
    want, got = golden.tree(rendered), golden.tree(committed) if committed.is_dir() else {}
    lines: list[str] = []
    for rel in sorted(want.keys() | got.keys()):
        old, new = got.get(rel, (b"", False))[0], want.get(rel, (b"", False))[0]
        if old != new:
            lines += difflib.unified_diff(
                old.decode(errors="replace").splitlines(), new.decode(errors="replace").splitlines(),
                f"a/tests/golden/{name}/{rel}" if rel in got else "/dev/null",
                f"b/tests/golden/{name}/{rel}" if rel in want else "/dev/null", lineterm="")
    if len(lines) > limit:
        lines = [*lines[:limit], f"... {len(lines) - limit} more diff lines (run `make golden` and `git diff`)"]
    return "\n".join(lines)


@pytest.mark.parametrize("name", sorted(golden.SETS))
def test_committed_render_is_current(name: str, tmp_path: Path) -> None:
    rendered = golden.render_set(name, tmp_path / name)
    differences = drift(GOLDEN / name, rendered)
    assert not differences, (
        f"tests/golden/{name} is not what the template renders now; run `make golden` and commit the result "
        "(review it as the diff users get):\n  " + "\n  ".join(differences) + "\n"
        + unified(GOLDEN / name, rendered, name)
    )


@pytest.mark.parametrize("name", sorted(golden.SETS))
def test_console_script_renders_the_committed_tree_without_prompt_libraries(name: str, tmp_path: Path) -> None:
    """`gosmith new --defaults` as a user runs it (its own process, which loads no prompt library because
    nothing is asked) writes exactly the committed render."""
    import os
    import sys

    answers = dict(golden.SETS[name])
    cmd = [str(Path(sys.executable).with_name("gosmith")), "new", answers.pop("service_name"),
           "--module", answers.pop("module_path"), "--defaults", "-o", str(tmp_path / name)]
    for key, value in answers.items():
        text = ",".join(value) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else value
        cmd += ["-d", f"{key}={text}"]
    with golden.isolated():
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        golden._portable_source(tmp_path / name / ".copier-answers.yml")
    imported = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    assert imported and not [ln for ln in imported if "questionary" in ln or "prompt_toolkit" in ln]
    assert drift(GOLDEN / name, tmp_path / name) == []


def test_only_the_answer_sets_are_committed() -> None:
    present = {p.name for p in GOLDEN.iterdir() if p.is_dir()}
    assert present == set(golden.SETS), "run `make golden`: tests/golden holds exactly the sets of scripts/golden.py"


def test_no_golden_file_is_ignored_by_git() -> None:
    """A rendered file the checkout's .gitignore hides would pass here and be missing from every clone."""
    if not have("git") or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--", "tests/golden"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert not ignored, f"files of tests/golden that git ignores (fix .gitignore): {ignored}"


def test_drift_is_reported_path_by_path(tmp_path: Path) -> None:
    committed, rendered = tmp_path / "committed", tmp_path / "rendered"
    for tree in (committed, rendered):
        (tree / "cmd").mkdir(parents=True)
        (tree / "same.txt").write_text("same\n")
    (committed / "cmd" / "old.go").write_text("package old\n")
    (rendered / "cmd" / "new.go").write_text("package new\n")
    (committed / "go.mod").write_text("module a\n")
    (rendered / "go.mod").write_text("module b\n")
    (committed / "run.sh").write_text("#!/bin/sh\n")
    (rendered / "run.sh").write_text("#!/bin/sh\n")
    (rendered / "run.sh").chmod(0o755)
    (committed / "run.sh").chmod(0o644)
    lines = drift(committed, rendered)
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["cmd/new.go", "cmd/old.go", "go.mod", "run.sh"]
    assert lines[1] == "no longer rendered: cmd/old.go" and lines[2] == "content differs: go.mod"
    diff = unified(committed, rendered, "x").splitlines()
    assert diff[:2] == ["--- /dev/null", "+++ b/tests/golden/x/cmd/new.go"] and "+package new" in diff
    assert "--- a/tests/golden/x/cmd/old.go" in diff and "+++ /dev/null" in diff and "-package old" in diff
    assert [line for line in diff if line.endswith(("module a", "module b"))] == ["-module a", "+module b"]
    assert not any("run.sh" in line or "same.txt" in line for line in diff)  # same bytes: no diff


def test_drift_diff_is_bounded(tmp_path: Path) -> None:
    committed, rendered = tmp_path / "committed", tmp_path / "rendered"
    for tree, prefix in ((committed, "old"), (rendered, "new")):
        tree.mkdir()
        (tree / "big.txt").write_text("".join(f"{prefix} {i}\n" for i in range(500)))
    diff = unified(committed, rendered, "x", limit=50).splitlines()
    assert len(diff) == 51 and diff[-1].startswith("... ") and "more diff lines" in diff[-1]


# ------------------------------------------------------------------------ the committed Go code


@pytest.fixture(scope="module", params=sorted(golden.SETS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of one committed golden tree (the tests never write into tests/golden)."""
    if not have("go"):
        pytest.skip("go not on PATH")
    if not (GOLDEN / request.param).is_dir():
        pytest.fail(f"tests/golden/{request.param} missing: run `make golden`")
    dst = tmp_path_factory.mktemp(f"golden-{request.param}") / request.param
    shutil.copytree(GOLDEN / request.param, dst)
    return dst


@pytest.mark.slow
def test_go_vet(project: Path) -> None:
    run(["go", "vet", "./..."], project)
    run(["go", "vet", "-tags", "pprof", "./..."], project)


@pytest.mark.slow
def test_gofmt_is_clean(project: Path) -> None:
    assert run(["gofmt", "-l", "."], project) == ""


@pytest.mark.slow
def test_go_build(project: Path) -> None:
    run(["go", "build", "./..."], project)
    run(["go", "build", "-tags", "pprof", "./..."], project)


@pytest.mark.slow
@pytest.mark.parametrize("project", TESTED_HERE, indirect=True)
def test_go_test_race(project: Path) -> None:
    run(["go", "test", "-race", "./..."], project, timeout=1100)


@pytest.mark.slow
@pytest.mark.parametrize("project", TESTED_HERE, indirect=True)
def test_golangci_lint(project: Path) -> None:
    lint = shutil.which("golangci-lint")
    if lint is None:
        pytest.skip("golangci-lint not on PATH (scripts/tools.sh builds it into .tools/bin)")
    for extra in ([], ["--build-tags=pprof"]):
        out = run([lint, "run", "--allow-serial-runners", "--max-issues-per-linter=0", *extra, "./..."], project,
                  timeout=1100)
        assert "0 issues" in out, out
