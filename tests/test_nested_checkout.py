"""A service generated inside the gosmith checkout and `git init`-ed there (as its README says) breaks nothing.

The checkout's tracked files are copied into a fresh git repository; `my-service/` (the name the
README uses) and `orders-api/` (any other name) are generated and initialised inside it. Then the
suite (a targeted test), plain `copier copy` of the checkout, the service's build stamp and
`gosmith update` are run there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gen import ROOT, run

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "Test",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
GOSMITH = [sys.executable, "-c", "import sys; from gosmith.cli import main; sys.argv[0] = 'gosmith'; main()"]


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd, env=GIT_ENV)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the gosmith checkout (tracked files, as they are now) with two generated repositories in it."""
    dst = tmp_path_factory.mktemp("nested") / "gosmith"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not (ROOT / rel.split("/")[0] / ".git").exists():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    git(dst, "init", "--quiet")
    git(dst, "add", "--all")
    git(dst, "commit", "--quiet", "-m", "checkout")
    return dst


def generate(checkout: Path, name: str, *, init: bool) -> Path:
    run([*GOSMITH, "new", name, "--defaults"], checkout, env=GIT_ENV)
    project = checkout / name
    if init:  # what the generated README says to do
        git(project, "init", "--quiet")
        git(project, "add", "--all")
        git(project, "commit", "--quiet", "-m", "generated")
    return project


def test_readme_name_is_ignored_and_plain_copier_copies_the_checkout(checkout: Path, tmp_path: Path) -> None:
    generate(checkout, "my-service", init=True)
    assert git(checkout, "status", "--porcelain") == "", "my-service/ must be ignored by the checkout"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "copier"), "copy", "--trust", "--defaults", "--vcs-ref", "HEAD",
         "-d", "service_name=copied", str(checkout), str(tmp_path / "copied")],
        capture_output=True, text=True, env={**os.environ, **GIT_ENV}, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "copied" / "go.mod").is_file()


def test_suite_runs_with_nested_repositories_in_the_checkout(checkout: Path) -> None:
    generate(checkout, "orders-api", init=True)  # not ignored: only the suite's own immunity helps
    assert "orders-api/" in git(checkout, "status", "--porcelain")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/test_repo_files.py", "-k", "test_license_follows_the_answer or test_no_license_when_none"],
        cwd=checkout, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\b4 passed\b", proc.stdout), proc.stdout[-2000:]


def test_untracked_service_is_not_stamped_with_the_checkouts_commit_and_update_says_why(checkout: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    project = generate(checkout, "loose-svc", init=False)
    dry = run(["make", "-n", "build"], project)
    assert "buildinfo.version=dev " in dry and "buildinfo.commit=unknown " in dry, dry
    proc = subprocess.run([*GOSMITH, "update", str(project)], capture_output=True, text=True, env={**os.environ,
                          **GIT_ENV}, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not committed to git" in proc.stderr and "git init" in proc.stderr, proc.stderr
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated")
    head = git(project, "rev-parse", "--short", "HEAD").strip()
    dry = run(["make", "-n", "build"], project)
    assert f"buildinfo.commit={head} " in dry, dry


def test_readme_first_command_generates_outside_the_checkout_or_into_an_ignored_folder() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block, "README has no sh block"
    line = next(ln for ln in block.group(1).splitlines() if "gosmith new " in ln)
    words = line.split("gosmith new ", 1)[1].split()
    out = words[words.index("-o") + 1] if "-o" in words else words[0]
    target = (ROOT / out).resolve()
    if target.is_relative_to(ROOT):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(target)], cwd=ROOT)
        assert ignored.returncode == 0, f"README generates into {out}, inside the checkout and not ignored"
