"""The template's version and release history come from files: release trees, the release repo, the wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import warnings
import zipfile
from pathlib import Path
from types import ModuleType

import copier
import pytest
import yaml
from gen import ROOT, load_module, run
from template_history import (
    NEW,
    OLD,
    TEMPLATE_LINE,
    add_template_line,
    commit,
    copy_template,
    generate_old,
    main_go,
    make_root,
)

from gosmith import materialise, recorded, releases, versions
from gosmith.errors import UserError

#: The user's home before any test changes $HOME.
REAL_HOME = os.path.expanduser("~")
#: What gosmith 0.1.0 recorded as `_src_path`: an absolute per-digest repository in its cache.
LEGACY_SRC = "/home/alice/.cache/gosmith/template-0123456789abcdef0123"

pytestmark = pytest.mark.usefixtures("gosmith_env")  # git identity, own cache (conftest)




def load_release_script() -> ModuleType:
    """Import scripts/release.py."""
    return load_module(ROOT / "scripts" / "release.py", "release_script")


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; return stripped stdout."""
    return run(["git", *args], cwd).strip()


def test_version_comes_from_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert str(versions.current_version(ROOT)) == declared
    assert versions.known_versions(ROOT)[-1] == versions.current_version(ROOT)


def test_release_tree_is_the_template_files_and_reviewable(tmp_path: Path) -> None:
    root = copy_template(tmp_path / "root")
    (root / "hooks" / "tool.sh").write_text("#!/bin/sh\n")
    (root / "hooks" / "tool.sh").chmod(0o755)
    (root / "hooks" / "__pycache__").mkdir(exist_ok=True)
    (root / "hooks" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    first = releases.digest(root)
    os.utime(root / "copier.yml", (1, 1))  # mtimes do not matter
    assert releases.digest(root) == first
    tree = releases.write(root, "1.2.3")
    assert tree == root / "releases" / "1.2.3"
    written = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    expected = {p.relative_to(root).as_posix() for part in ("copier.yml", "template", "hooks")
                for p in ([root / part] if (root / part).is_file() else (root / part).rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts}
    assert written == expected
    assert os.access(tree / "hooks" / "tool.sh", os.X_OK) and not os.access(tree / "copier.yml", os.X_OK)
    assert releases.digest(tree) == first
    # the tree is plain files: a release diff is `diff -r releases/A releases/B`
    assert (tree / "copier.yml").read_bytes() == (root / "copier.yml").read_bytes()
    with pytest.raises(UserError, match="development version"):
        releases.write(root, "1.3.0.dev0")


def test_working_version_is_dev_until_released() -> None:
    """An unreleased template is never recorded as a release: pyproject says .devN unless releases/<v>/ is it."""
    current = versions.current_version(ROOT)
    trees = versions.releases(ROOT)
    if current.is_devrelease:
        assert current not in trees and all(v < current for v in trees)
    else:
        assert current in trees and releases.digest(trees[current]) == releases.digest(ROOT)
    assert versions.parse_ref(f"v{current}") == current and versions.parse_ref("v0.2.0.dev0") is not None


def test_release_repo_has_one_tagged_commit_per_version_and_is_deterministic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_template(tmp_path / "root")
    for version in ("0.0.7", "0.0.8"):
        (root / "template" / "VERSION_NOTE").write_text(version + "\n")
        releases.write(root, version)
    (root / "template" / "VERSION_NOTE").unlink()
    (root / "pyproject.toml").write_text('[project]\nname = "gosmith"\nversion = "0.1.0"\n')

    built = materialise.materialise(root)
    assert built.repo == tmp_path / "cache" / "template"  # one stable directory per cache
    assert [str(v) for v in built.versions] == ["0.0.7", "0.0.8", "0.1.0"]
    assert git(built.repo, "tag", "--list").split() == ["v0.0.7", "v0.0.8", "v0.1.0"]
    for t in ("v0.0.7", "v0.0.8", "v0.1.0"):  # a root commit per version: its id depends on its files only
        assert git(built.repo, "rev-list", "--count", t) == "1"
    assert git(built.repo, "status", "--porcelain") == ""  # nothing checked out, nothing dirty
    assert git(built.repo, "show", "v0.0.7:template/VERSION_NOTE") == "0.0.7"
    assert git(built.repo, "show", "v0.0.8:template/VERSION_NOTE") == "0.0.8"
    assert "VERSION_NOTE" not in git(built.repo, "ls-tree", "-r", "--name-only", "v0.1.0")
    hashes = {t: git(built.repo, "rev-parse", f"{t}^{{commit}}") for t in ("v0.0.7", "v0.0.8", "v0.1.0")}

    # Same inputs: nothing is rebuilt or rewritten.
    index = built.repo / ".git" / "gosmith-index.json"
    stamp = index.stat().st_mtime_ns
    assert materialise.materialise(root).repo == built.repo and index.stat().st_mtime_ns == stamp

    # Another machine (another cache) builds identical commits: recorded tags mean the same everywhere.
    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "other-cache"))
    other = materialise.materialise(root)
    assert other.repo != built.repo
    assert {t: git(other.repo, "rev-parse", f"{t}^{{commit}}") for t in hashes} == hashes
    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "cache"))

    # A change in the working template moves only the tag of the (unreleased) newest version, in place.
    add_template_line(root)
    rebuilt = materialise.materialise(root)
    assert rebuilt.repo == built.repo
    assert git(rebuilt.repo, "rev-parse", "v0.0.8^{commit}") == hashes["v0.0.8"]
    assert git(rebuilt.repo, "rev-parse", "v0.1.0^{commit}") != hashes["v0.1.0"]
    assert TEMPLATE_LINE in git(rebuilt.repo, "show", f"v0.1.0:{releases.PARTS[1]}/cmd/"
                                "{{service_name}}/main.go.jinja")

    # A newer gosmith sharing the cache (0.1.0 released, working 0.2.0) appends; an older one keeps its tags.
    newer = copy_template(tmp_path / "newer")
    shutil.copytree(root / "releases", newer / "releases")
    add_template_line(newer)
    (newer / "pyproject.toml").write_text('[project]\nname = "gosmith"\nversion = "0.1.0"\n')
    releases.write(newer)
    (newer / "pyproject.toml").write_text('[project]\nname = "gosmith"\nversion = "0.2.0"\n')
    released = git(rebuilt.repo, "rev-parse", "v0.1.0^{commit}")
    assert materialise.materialise(newer).repo == built.repo
    materialise.materialise(root)
    assert git(built.repo, "tag", "--list").split() == ["v0.0.7", "v0.0.8", "v0.1.0", "v0.2.0"]
    assert git(built.repo, "rev-parse", "v0.1.0^{commit}") == released  # the snapshot is that working tree
    assert git(built.repo, "rev-parse", "v0.0.7^{commit}") == hashes["v0.0.7"]


def test_concurrent_refreshes_of_one_cache(tmp_path: Path) -> None:
    """Several gosmith processes refreshing the same cache at once all succeed with the same tags."""
    root = copy_template(tmp_path / "root")
    (root / "pyproject.toml").write_text('[project]\nname = "gosmith"\nversion = "0.1.0"\n')
    code = ("from pathlib import Path; import sys; from gosmith import materialise; "
            "print(materialise.materialise(Path(sys.argv[1])).repo)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert {out.strip() for out, _ in outputs} == {str(tmp_path / "cache" / "template")}
    repo = tmp_path / "cache" / "template"
    assert git(repo, "tag", "--list").split() == ["v0.1.0"]
    assert not [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith("build-")]


def test_released_snapshots_are_frozen(tmp_path: Path) -> None:
    release = load_release_script()
    root = copy_template(tmp_path / "root")
    (root / "pyproject.toml").write_text('[project]\nname = "gosmith"\nversion = "1.0.0"\n')
    releases.write(root)
    assert release.check(root) == []
    add_template_line(root)  # the template changed after 1.0.0 was released, version not bumped
    problems = release.check(root)
    assert len(problems) == 1 and "bump the version" in problems[0]
    with pytest.raises(Exception, match="released versions are frozen"):
        releases.write(root)


def test_this_repository_release_history_is_consistent() -> None:
    assert load_release_script().check(ROOT) == []
    current = versions.current_version(ROOT)
    assert all(v <= current for v in versions.releases(ROOT))


def _no_machine_path(text: str, *paths: Path) -> None:
    """The answers text names no absolute path, and none of `paths` (nor the user's real home) in any form."""
    values = [str(v) for v in yaml.safe_load(text).values()]
    assert not [v for v in values if v.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", v)], values
    for path in {*paths, Path(REAL_HOME)}:
        assert str(path) not in text and str(path.resolve()) not in text


def test_gosmith_new_records_a_portable_src_path_and_release_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gosmith.generate import NewRequest, new

    # The cache of the test (GOSMITH_CACHE_DIR) is outside the home directory: the default location is recorded.
    project = new(NewRequest(name="tagged-svc", output=tmp_path / "p"))
    text = (project / ".copier-answers.yml").read_text()
    answers = yaml.safe_load(text)
    assert answers["_commit"] == f"v{versions.current_version(ROOT)}"
    assert answers["_src_path"] == "~/.cache/gosmith/template" == recorded.DEFAULT_SOURCE
    _no_machine_path(text, tmp_path)

    # The default cache under $HOME: the repository is recorded relative to the home directory, and is there.
    home = tmp_path / "home-a"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GOSMITH_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    project = new(NewRequest(name="tagged-svc", output=tmp_path / "q"))
    text = (project / ".copier-answers.yml").read_text()
    answers = yaml.safe_load(text)
    assert answers["_src_path"] == "~/.cache/gosmith/template"
    _no_machine_path(text, tmp_path, home)
    src = Path(answers["_src_path"]).expanduser()
    assert src == home / ".cache" / "gosmith" / "template" and (src / ".git").is_dir()
    assert git(src, "rev-parse", answers["_commit"] + "^{commit}")

    # XDG_CACHE_HOME under $HOME: recorded relative to it; elsewhere: the default location.
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg"))
    assert recorded.recorded_source() == "~/xdg/gosmith/template"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert recorded.recorded_source() == recorded.DEFAULT_SOURCE


def test_plain_copier_update_on_another_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated with HOME=A by gosmith OLD; updated with plain copier under HOME=B, where gosmith NEW ran once."""
    from gosmith.generate import NewRequest, new

    monkeypatch.delenv("GOSMITH_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    old_tree = copy_template(tmp_path / "gosmith-old")  # gosmith OLD: its working template is release OLD
    (old_tree / "pyproject.toml").write_text(f'[project]\nname = "gosmith"\nversion = "{OLD}"\n')
    home_a, home_b = tmp_path / "alice", tmp_path / "bob"
    monkeypatch.setenv("HOME", str(home_a))
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(old_tree))
    project = new(NewRequest(name="orders-api", output=tmp_path / "svc"))
    text = (project / ".copier-answers.yml").read_text()
    assert yaml.safe_load(text)["_commit"] == f"v{OLD}"
    _no_machine_path(text, tmp_path, home_a)
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated on alice's machine")
    released_a = git(home_a / ".cache" / "gosmith" / "template", "rev-parse", f"v{OLD}^{{commit}}")

    # Bob's machine: gosmith NEW (release OLD + a template change); any gosmith command materialises the template.
    monkeypatch.setenv("HOME", str(home_b))
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(make_root(tmp_path / "bob-gosmith", change=add_template_line)))
    assert not (home_b / ".cache").exists()
    from template_history import cli

    assert cli("check", str(project)).exit_code == 1  # behind
    repo_b = home_b / ".cache" / "gosmith" / "template"
    assert git(repo_b, "rev-parse", f"v{OLD}^{{commit}}") == released_a  # the release has one commit everywhere
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_update(str(project), defaults=True, overwrite=True, unsafe=True, quiet=True)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == f"v{NEW}" and answers["_src_path"] == "~/.cache/gosmith/template"
    assert TEMPLATE_LINE in (project / "cmd" / "orders-api" / "main.go").read_text()


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
    assert f"gosmith/template_root/releases/{OLD}/copier.yml" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)

    # The project was generated by release OLD elsewhere: its recorded source is unreachable here.
    project = generate_old(tree, tmp_path / "svc", {"service_name": "orders-api"})
    # ... by gosmith 0.1.0, which recorded an absolute per-digest cache path of that machine.
    answers = project / ".copier-answers.yml"
    answers.write_text(re.sub(r"(?m)^_src_path: .*$", f"_src_path: {LEGACY_SRC}", answers.read_text()))
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
    assert yaml.safe_load(answers.read_text())["_src_path"] == "~/.cache/gosmith/template"


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


def test_rollout_notes_select_by_version(monkeypatch: pytest.MonkeyPatch) -> None:
    mig = load_migrations()
    monkeypatch.setattr(mig, "IN_PLACE_BREAKS", [("0.2.0", "selector changed"), ("0.4.0", "renamed")])
    assert mig.rollout_notes("0.1.0", "0.2.0") == ["template 0.2.0: selector changed"]
    both = ["template 0.2.0: selector changed", "template 0.4.0: renamed"]
    assert mig.rollout_notes("0.1.0", "0.4.0") == both
    assert mig.rollout_notes("0.1.0", "0.4.0.dev0") == both  # the working template of 0.4.0 carries the change
    assert mig.rollout_notes("0.2.0", "0.3.0") == []


def break_in_place(root: Path) -> None:
    """The NEW template changes the Deployment's selector (an immutable field) and records the note for it."""
    helpers = next((root / "template" / "deploy" / "helm").glob("*/templates/_helpers.tpl*"))
    text = helpers.read_text()
    line = "app.kubernetes.io/instance: {{ .Release.Name | quote }}"
    assert line in text
    helpers.write_text(text.replace(line, line + "\napp.kubernetes.io/part: web", 1))
    mig = root / "hooks" / "migrations.py"
    mig.write_text(mig.read_text().replace("IN_PLACE_BREAKS: list[tuple[str, str]] = []",
                                           f"IN_PLACE_BREAKS: list[tuple[str, str]] = [({NEW!r}, 'SELECTOR-NOTE')]"))


@pytest.mark.slow
def test_update_across_an_in_place_break_prints_its_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An update that crosses a version in IN_PLACE_BREAKS says so (a real process, as a user runs it);
    one that does not cross it stays silent."""
    root = make_root(tmp_path, change=break_in_place)
    monkeypatch.setenv("GOSMITH_TEMPLATE_ROOT", str(root))
    project = generate_old(root, tmp_path / "svc", {"service_name": "orders-api"})
    gosmith = Path(sys.executable).parent / "gosmith"
    pretend = subprocess.run([str(gosmith), "update", "--pretend", str(project)], capture_output=True, text=True,
                             timeout=600)
    assert pretend.returncode == 0, pretend.stdout + pretend.stderr
    assert f"note: template {NEW}: SELECTOR-NOTE" in pretend.stdout
    done = subprocess.run([str(gosmith), "update", str(project)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"note: template {NEW}: SELECTOR-NOTE" in done.stdout
    commit(project, "updated")
    again = subprocess.run([str(gosmith), "update", str(project)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "SELECTOR-NOTE" not in again.stdout + again.stderr, again.stdout


def test_new_renders_from_an_export_of_the_tag(tmp_path: Path) -> None:
    """`gosmith new` copies from a plain export of the current tag: same files as the tag, made once, then reused."""
    from gosmith.generate import NewRequest, new

    built = materialise.materialise(ROOT)
    tree = materialise.exported_tree(built, built.current)
    tagged = set(git(built.repo, "ls-tree", "-r", "--name-only", versions.tag(built.current)).split("\n"))
    exported = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    assert exported == tagged
    assert (tree / "copier.yml").read_bytes() == (ROOT / "copier.yml").read_bytes()
    stamp = (tree / "copier.yml").stat().st_mtime_ns
    project = new(NewRequest(name="export-svc", output=tmp_path / "p"))
    assert materialise.exported_tree(built, built.current) == tree
    assert (tree / "copier.yml").stat().st_mtime_ns == stamp  # reused, not rewritten
    lines = (project / ".copier-answers.yml").read_text().splitlines()
    keys = [line.split(":", 1)[0] for line in lines if line and not line.startswith("#")]
    assert keys[:2] == ["_commit", "_src_path"]  # where copier itself puts them
    assert f"_commit: v{built.current}" in lines


def test_new_finds_a_ready_export_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository that holds the working version: `gosmith new` gets its export from files, with no git process.

    A changed working template, a missing tag of an older version or a missing export fall back to
    `materialised()`, which rebuilds what is missing.
    """
    from gosmith import git as git_mod
    from gosmith.source import copy_source

    root = make_root(tmp_path)
    assert materialise.ready_export(root) is None  # empty cache
    with copy_source(root) as (first, ref):
        assert ref == versions.tag(NEW)
    ready = materialise.ready_export(root)
    assert ready == (Path(first), versions.parse_ref(ref))

    def no_git(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("git ran although the export was ready")

    with monkeypatch.context() as patched:
        patched.setattr(git_mod, "run", no_git)
        with copy_source(root) as (again, ref_again):
            assert (again, ref_again) == (first, ref)

    repo = recorded.repo_path()
    old_tag = repo / ".git" / "refs" / "tags" / versions.tag(OLD)
    commit = old_tag.read_text()
    old_tag.unlink()
    assert materialise.ready_export(root) is None
    with copy_source(root) as (src, _):
        assert src == first
    assert old_tag.read_text() == commit  # materialised() tagged it again

    shutil.rmtree(first)
    assert materialise.ready_export(root) is None
    with copy_source(root) as (src, _):
        assert src == first and (Path(src) / "copier.yml").is_file()

    add_template_line(root)  # the working template changed: a new commit and export
    assert materialise.ready_export(root) is None
    with copy_source(root) as (changed, ref_changed):
        assert changed != first and ref_changed == ref
        assert TEMPLATE_LINE in main_go(Path(changed)).read_text()
    assert materialise.ready_export(root) == (Path(changed), versions.parse_ref(ref))
