"""The template's version and release history come from files: snapshots, the release repo, the wheel."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from gen import ROOT, load_module, run
from test_update import NEW, OLD, TEMPLATE_LINE, add_template_line, copy_template, generate_old, make_root

from gosmith import source


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Git identity for copier's temp commits and a private gosmith cache."""
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Test")
        monkeypatch.setenv(f"{key}_EMAIL", "test@example.com")
    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GOSMITH_TEMPLATE_ROOT", raising=False)


def load_release_script() -> ModuleType:
    """Import scripts/release.py."""
    return load_module(ROOT / "scripts" / "release.py", "release_script")


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; return stripped stdout."""
    return run(["git", *args], cwd).strip()


def test_version_comes_from_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert str(source.current_version(ROOT)) == declared
    assert source.known_versions(ROOT)[-1] == source.current_version(ROOT)


def test_snapshot_is_reproducible_and_complete(tmp_path: Path) -> None:
    root = copy_template(tmp_path / "root")
    (root / "hooks" / "tool.sh").write_text("#!/bin/sh\n")
    (root / "hooks" / "tool.sh").chmod(0o755)
    (root / "hooks" / "__pycache__").mkdir(exist_ok=True)
    (root / "hooks" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    first = source.snapshot_bytes(root)
    os.utime(root / "copier.yml", (1, 1))  # mtimes do not matter
    assert source.snapshot_bytes(root) == first
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    expected = {p.relative_to(root).as_posix() for part in ("copier.yml", "template", "hooks")
                for p in ([root / part] if (root / part).is_file() else (root / part).rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts}
    assert set(members) == expected
    assert members["hooks/tool.sh"].mode == 0o755
    assert members["copier.yml"].mode == 0o644 and members["copier.yml"].mtime == 0


def test_release_repo_has_one_tagged_commit_per_version_and_is_deterministic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_template(tmp_path / "root")
    for version in ("0.0.7", "0.0.8"):
        (root / "template" / "VERSION_NOTE").write_text(version + "\n")
        source.write_snapshot(root, version)
    (root / "template" / "VERSION_NOTE").unlink()
    (root / "pyproject.toml").write_text('[project]\nname = "gosmith"\nversion = "0.1.0"\n')

    built = source.materialise(root)
    assert [str(v) for v in built.versions] == ["0.0.7", "0.0.8", "0.1.0"]
    assert git(built.repo, "tag", "--list").split() == ["v0.0.7", "v0.0.8", "v0.1.0"]
    assert git(built.repo, "rev-list", "--count", "HEAD") == "3"
    assert git(built.repo, "show", "v0.0.7:template/VERSION_NOTE") == "0.0.7"
    assert git(built.repo, "show", "v0.0.8:template/VERSION_NOTE") == "0.0.8"
    assert "VERSION_NOTE" not in git(built.repo, "ls-tree", "-r", "--name-only", "v0.1.0")
    hashes = {t: git(built.repo, "rev-parse", f"{t}^{{commit}}") for t in ("v0.0.7", "v0.0.8", "v0.1.0")}

    # Same inputs: the cached repository is reused as is.
    marker = built.repo / ".git" / "gosmith-digest"
    stamp = marker.stat().st_mtime_ns
    assert source.materialise(root).repo == built.repo and marker.stat().st_mtime_ns == stamp

    # Another machine (another cache) builds byte-identical history: recorded tags mean the same everywhere.
    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "other-cache"))
    other = source.materialise(root)
    assert other.repo != built.repo
    assert {t: git(other.repo, "rev-parse", f"{t}^{{commit}}") for t in hashes} == hashes

    # A change in the working template rebuilds only the newest version.
    add_template_line(root)
    rebuilt = source.materialise(root)
    assert git(rebuilt.repo, "rev-parse", "v0.0.8^{commit}") == hashes["v0.0.8"]
    assert git(rebuilt.repo, "rev-parse", "v0.1.0^{commit}") != hashes["v0.1.0"]
    assert TEMPLATE_LINE in git(rebuilt.repo, "show", f"v0.1.0:{source.SNAPSHOT_PARTS[1]}/cmd/"
                                "{{service_name}}/main.go.jinja")


def test_released_snapshots_are_frozen(tmp_path: Path) -> None:
    release = load_release_script()
    root = copy_template(tmp_path / "root")
    (root / "pyproject.toml").write_text('[project]\nname = "gosmith"\nversion = "1.0.0"\n')
    source.write_snapshot(root)
    assert release.check(root) == []
    add_template_line(root)  # the template changed after 1.0.0 was released, version not bumped
    problems = release.check(root)
    assert len(problems) == 1 and "bump the version" in problems[0]
    with pytest.raises(Exception, match="released versions are frozen"):
        source.write_snapshot(root)


def test_this_repository_release_history_is_consistent() -> None:
    assert load_release_script().check(ROOT) == []
    current = source.current_version(ROOT)
    assert all(v <= current for v in source.release_snapshots(ROOT))


def test_gosmith_new_records_src_path_and_release_tag(tmp_path: Path) -> None:
    from gosmith.generate import NewRequest, new

    project = new(NewRequest(name="tagged-svc", output=tmp_path / "p"))
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == f"v{source.current_version(ROOT)}"
    src = Path(answers["_src_path"])
    assert src.is_absolute() and (src / ".git").is_dir()
    assert git(src, "rev-parse", answers["_commit"] + "^{commit}")


@pytest.mark.slow
def test_wheel_updates_a_project_from_an_earlier_release_offline(tmp_path: Path) -> None:
    """Build a wheel whose history has release OLD, install it by path, update an OLD project offline."""
    tree = make_root(tmp_path, change=add_template_line)  # releases/OLD + working NEW
    for name in ("src", "README.md"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tree / name)
    shutil.copy2(ROOT / "releases" / "README.md", tree / "releases" / "README.md")
    pyproject = (ROOT / "pyproject.toml").read_text()
    version = tomllib.loads(pyproject)["project"]["version"]
    (tree / "pyproject.toml").write_text(pyproject.replace(f'version = "{version}"', f'version = "{NEW}"', 1))
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)], tree)
    (wheel,) = dist.glob("gosmith-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"gosmith/template_root/releases/{OLD}.tar.gz" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)

    # The project was generated by release OLD elsewhere: its recorded source is unreachable here.
    project = generate_old(tree, tmp_path / "svc", {"service_name": "orders-api"})
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(str(source.materialise(tree).repo), "/elsewhere/gosmith"))
    run(["git", "commit", "--quiet", "-am", "moved machines"], project)
    shutil.rmtree(tmp_path / "cache")
    shutil.rmtree(tree)  # nothing of the source tree is left: only the installed wheel

    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "GOSMITH_CACHE_DIR": str(tmp_path / "fresh-cache"),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "GIT_ALLOW_PROTOCOL": "file",
    }
    env.pop("GOSMITH_TEMPLATE_ROOT", None)
    code = "import sys, gosmith; print(gosmith.__file__); from gosmith.cli import main; sys.argv[0] = 'gosmith'; main()"
    proc = subprocess.run([sys.executable, "-c", code, "update", str(project)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].startswith(str(site))  # the code ran from the wheel
    assert f"updated from template {OLD} to {NEW}" in proc.stdout
    assert TEMPLATE_LINE in (project / "cmd" / "orders-api" / "main.go").read_text()
    assert yaml.safe_load(answers.read_text())["_commit"] == f"v{NEW}"


def load_migrations() -> ModuleType:
    """Import hooks/migrations.py (the script copier's `_migrations` runs)."""
    return load_module(ROOT / "hooks" / "migrations.py", "gosmith_migrations")


def test_migration_rules_select_by_version_and_keep_values(tmp_path: Path) -> None:
    mig = load_migrations()
    assert ("port", "http_port") in mig.applicable("0.0.9", "0.1.0")
    assert ("port", "http_port") in mig.applicable("0.0.9.post3+gabc", "0.1.0")
    assert ("port", "http_port") not in mig.applicable("0.1.0", "0.2.0")
    renames = [("port", "http_port"), ("hosts", "allowed_hosts")]
    text = "_commit: v0.0.9\nport: 8181\nhosts:\n- a\n- b\nportal: x\n"
    assert mig.migrate_text(text, renames) == "_commit: v0.0.9\nhttp_port: 8181\nallowed_hosts:\n- a\n- b\nportal: x\n"
    # the new name already answered: it wins, the old answer (and its continuation lines) go
    both = "port: 1\nhosts:\n- a\nhttp_port: 2\nallowed_hosts: []\n"
    assert mig.migrate_text(both, renames) == "http_port: 2\nallowed_hosts: []\n"
    answers = tmp_path / ".copier-answers.yml"
    answers.write_text("port: 8181\n")
    assert mig.main([str(answers), "0.0.9", "0.1.0"]) == 0
    assert yaml.safe_load(answers.read_text()) == {"http_port": 8181}
    assert mig.main([str(answers), "0.1.0", "0.1.0"]) == 0 and answers.read_text() == "http_port: 8181\n"
    assert mig.main([]) == 2
