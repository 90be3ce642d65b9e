"""Where `gosmith new`/`update` take the template from: a local git repo built from the release history.

The release history lives in files, never in git tags of the gosmith checkout: every released
template version is a deterministic snapshot `releases/<version>.tar.gz` (copier.yml, template/,
hooks/), and the working template (versioned by `[project].version` in pyproject.toml, or the
installed package's version inside a wheel) is the newest version. `materialised()` keeps that
history in one stable local git repository, `<cache dir>/template`, one deterministic commit per
version tagged `v<version>`; copier copies and updates against it, so updates work offline and on
any machine that has this gosmith installed. Projects record it as a home-relative `_src_path`
(`~/.cache/gosmith/template`, never a path of the generating machine), so plain `copier update`
works wherever gosmith has materialised the template once.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

from gosmith.errors import UserError
from gosmith.template import template_root

#: Paths (relative to the template root) that make up one template version.
SNAPSHOT_PARTS: tuple[str, ...] = ("copier.yml", "template", "hooks")
#: Directory (relative to the template root) holding `<version>.tar.gz` snapshots of older releases.
RELEASES_DIR = "releases"
_SKIP_NAMES = {"__pycache__", ".DS_Store", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
#: Bump when the way the repository is built changes (the repository is rebuilt; released tags keep their ids
#: only while the commit recipe in `_commit_input` stays the same).
_FORMAT = "gosmith-release-repo/2"
#: The repository's directory in the cache dir, and what `_src_path` records when the cache is not under $HOME.
REPO_NAME = "template"
DEFAULT_SOURCE = "~/.cache/gosmith/template"
_FORMAT_FILE = "gosmith-format"
_INDEX = "gosmith-index.json"
_LOCK = "template.lock"
#: Author and committer date of every version's commit (2000-01-01).
_DATE = 946684800
#: A commit id as `git describe --always` records it (short or full hex).
_SHA = re.compile(r"[0-9a-f]{7,64}")
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "gosmith",
    "GIT_AUTHOR_EMAIL": "gosmith@localhost",
    "GIT_COMMITTER_NAME": "gosmith",
    "GIT_COMMITTER_EMAIL": "gosmith@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def tag(version: str | Version) -> str:
    """Return the git tag naming template `version` in the materialised repository."""
    return f"v{version}"


def parse_ref(ref: object) -> Version | None:
    """Return the release version named by a recorded `_commit` (`v1.2.3` or `1.2.3`), else None."""
    if not isinstance(ref, str):
        return None
    if _SHA.fullmatch(ref):
        return None  # a commit id (`git describe --always` of an untagged commit), never a version
    text = ref[1:] if ref.startswith("v") else ref
    try:
        parsed = Version(text)
    except InvalidVersion:
        return None
    return parsed if str(parsed) == text else None


def source_root() -> Path:
    """Return the template root to use: `$GOSMITH_TEMPLATE_ROOT` (another gosmith tree) or the bundled one."""
    override = os.environ.get("GOSMITH_TEMPLATE_ROOT")
    if override:
        root = Path(override).resolve()
        if not (root / "copier.yml").is_file():
            raise UserError(f"GOSMITH_TEMPLATE_ROOT={override}: no copier.yml there")
        return root
    return template_root()


def current_version(root: Path | None = None) -> Version:
    """Return the version of the working template: pyproject's `[project].version`, else the package's."""
    root = root or source_root()
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        text = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    else:
        try:
            text = dist_version("gosmith")
        except PackageNotFoundError as exc:  # pragma: no cover - wheel installs always have metadata
            raise RuntimeError("cannot tell the template version: no pyproject.toml and no package metadata") from exc
    return Version(text)


def release_snapshots(root: Path | None = None) -> dict[Version, Path]:
    """Return `{version: snapshot file}` for every `releases/<version>.tar.gz`, oldest first."""
    folder = (root or source_root()) / RELEASES_DIR
    found: dict[Version, Path] = {}
    if folder.is_dir():
        for path in folder.glob("*.tar.gz"):
            try:
                found[Version(path.name[: -len(".tar.gz")])] = path
            except InvalidVersion:
                continue
    return dict(sorted(found.items()))


def known_versions(root: Path | None = None) -> list[Version]:
    """Return every template version this gosmith can render, oldest first (the working one last)."""
    root = root or source_root()
    current = current_version(root)
    return sorted({*(v for v in release_snapshots(root) if v <= current), current})


def _template_files(root: Path) -> list[tuple[str, Path]]:
    """Return `(posix relative path, file)` for every file of the working template, sorted."""
    files: list[tuple[str, Path]] = []
    for part in SNAPSHOT_PARTS:
        base = root / part
        if base.is_file():
            files.append((part, base))
            continue
        if not base.is_dir():
            raise RuntimeError(f"template part {part} missing under {root}")
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_NAMES)
            for name in filenames:
                if name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES):
                    continue
                path = Path(dirpath) / name
                files.append((path.relative_to(root).as_posix(), path))
    return sorted(files)


def _mode(path: Path) -> int:
    """Return 0o755 for executable files, else 0o644 (all git can record)."""
    return 0o755 if os.access(path, os.X_OK) else 0o644


def snapshot_bytes(root: Path) -> bytes:
    """Return a byte-for-byte reproducible tar.gz of the working template under `root`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in _template_files(root):
            data = path.read_bytes()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = _mode(path)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def same_snapshot(a: bytes, b: bytes) -> bool:
    """Return whether two snapshots hold the same files (compares the tar, not zlib's compressed bytes)."""
    return gzip.decompress(a) == gzip.decompress(b)


def write_snapshot(root: Path, version: Version | str | None = None) -> Path:
    """Snapshot the working template as release `version` (default: the current one) into releases/."""
    version = Version(str(version)) if version else current_version(root)
    target = root / RELEASES_DIR / f"{version}.tar.gz"
    data = snapshot_bytes(root)
    if target.exists() and not same_snapshot(target.read_bytes(), data):
        raise UserError(f"{target.name} exists and differs from the working template; released versions are frozen")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def _extract(snapshot: Path, dest: Path) -> None:
    """Unpack a release snapshot into `dest`, refusing members that escape it."""
    with tarfile.open(snapshot, mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            rel = Path(member.name)
            if rel.is_absolute() or ".." in rel.parts or rel.parts[0] not in SNAPSHOT_PARTS:
                raise RuntimeError(f"{snapshot.name}: unexpected member {member.name}")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fileobj = tar.extractfile(member)
            assert fileobj is not None
            target.write_bytes(fileobj.read())
            target.chmod(0o755 if member.mode & 0o111 else 0o644)


def _copy_working(root: Path, dest: Path) -> None:
    """Copy the working template's files into `dest`."""
    for rel, path in _template_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(_mode(path))


def cache_dir() -> Path:
    """Return gosmith's cache directory: `$GOSMITH_CACHE_DIR`, else `$XDG_CACHE_HOME/gosmith`, else ~/.cache/gosmith."""
    explicit = os.environ.get("GOSMITH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "gosmith"


def repo_path() -> Path:
    """Return the one template repository of this machine and cache: `<cache dir>/template`."""
    return cache_dir() / REPO_NAME


def recorded_source(repo: Path | None = None) -> str:
    """Return the `_src_path` gosmith records for the template repository `repo` (default: `repo_path()`).

    It is never a path of this machine: the repository's place relative to the home directory
    (`~/.cache/gosmith/template` by default; copier expands `~` itself), so that plain
    `copier update` finds the template on any machine where gosmith has materialised it. A cache
    outside the home directory (`$GOSMITH_CACHE_DIR` or `$XDG_CACHE_HOME` elsewhere, e.g. a CI
    cache volume) would leak that machine's layout: the default location `DEFAULT_SOURCE` is
    recorded then, which is where gosmith keeps the template on every machine without those overrides.
    """
    repo = (repo or repo_path()).resolve()
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home directory at all
        return DEFAULT_SOURCE
    if home == Path(home.anchor):
        return DEFAULT_SOURCE
    try:
        rel = repo.relative_to(home)
    except ValueError:
        return DEFAULT_SOURCE
    return "~/" + rel.as_posix() if rel.parts else DEFAULT_SOURCE


def record_source(answers_file: Path) -> None:
    """Replace the `_src_path` copier wrote into `answers_file` (an absolute path) by `recorded_source()`."""
    if not answers_file.is_file():
        return
    text = answers_file.read_text(encoding="utf-8")
    line = yaml.safe_dump({"_src_path": recorded_source()}, default_flow_style=False, width=1 << 16).rstrip("\n")
    # the entry plus any continuation lines YAML may have folded a long value onto
    entry = re.compile(r"(?m)^_src_path:.*(?:\n[ \t]+\S.*)*$")
    new = entry.sub(lambda _: line, text)
    if new != text:
        answers_file.write_text(new, encoding="utf-8")


def _git(args: list[str], cwd: Path, date: int = _DATE, env: dict[str, str] | None = None) -> str:
    """Run git with a fixed identity and date so that commits are identical on every machine."""
    full = {
        **os.environ,
        **_GIT_IDENTITY,
        "GIT_AUTHOR_DATE": f"@{date} +0000",
        "GIT_COMMITTER_DATE": f"@{date} +0000",
        **(env or {}),
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class _Input:
    """One template version this gosmith knows and how to write its files."""

    version: Version
    key: str  # hash of the version and its content: the repository's index maps it to its commit
    snapshot: Path | None  # None: the working template


def _inputs(root: Path, versions: tuple[Version, ...]) -> list[_Input]:
    """Return the inputs of every known version: release snapshots, then the working template."""
    current = versions[-1]
    snapshots = release_snapshots(root)
    found: list[_Input] = []
    for version in versions:
        h = hashlib.sha256(f"{_FORMAT}\0{version}\0".encode())
        if version < current:
            h.update(b"snapshot\0" + gzip.decompress(snapshots[version].read_bytes()))
            found.append(_Input(version, h.hexdigest(), snapshots[version]))
            continue
        for rel, path in _template_files(root):  # a snapshot of the current version is the working template
            h.update(f"\0file {rel} {_mode(path):o}\0".encode())
            h.update(path.read_bytes())
        found.append(_Input(version, h.hexdigest(), None))
    return found


def _index(repo: Path) -> dict[str, str]:
    """Return the repository's `{input key: commit}` index (empty when missing or unreadable)."""
    try:
        data = json.loads((repo / ".git" / _INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tags(repo: Path) -> dict[str, str]:
    """Return `{tag: commit}` of the repository."""
    out = _git(["for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/tags"], repo)
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _is_current(repo: Path, inputs: list[_Input]) -> bool:
    """Return whether the repository tags every input's version at the commit built from that input."""
    try:
        if (repo / ".git" / _FORMAT_FILE).read_text(encoding="utf-8") != _FORMAT:
            return False
        index, tags = _index(repo), _tags(repo)
    except (OSError, RuntimeError):
        return False
    return all(index.get(i.key) is not None and tags.get(tag(i.version)) == index[i.key] for i in inputs)


def _init(repo: Path) -> None:
    """Create the (empty) repository at `repo`, replacing anything that is not one of this format."""
    marker = repo / ".git" / _FORMAT_FILE
    if marker.is_file() and marker.read_text(encoding="utf-8") == _FORMAT:
        return
    staging = Path(tempfile.mkdtemp(prefix="build-", dir=repo.parent))
    try:
        # HEAD stays an unborn branch: the work tree is empty and clean, versions are reachable by tag only
        _git(["init", "--quiet", "--initial-branch=main", "."], staging)
        (staging / ".git" / _FORMAT_FILE).write_text(_FORMAT, encoding="utf-8")
        if repo.exists() or repo.is_symlink():
            old = Path(tempfile.mkdtemp(prefix="build-", dir=repo.parent)) / "old"
            repo.rename(old)
            staging.rename(repo)
            shutil.rmtree(old.parent, ignore_errors=True)
        else:
            staging.rename(repo)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit_input(root: Path, repo: Path, item: _Input) -> str:
    """Write the commit of one input into the repository (no work tree, no branch) and return its id.

    A root commit of the version's files with a fixed author, date and message: its id depends on
    the version and its files only, so a released version has the same commit on every machine.
    """
    with tempfile.TemporaryDirectory(prefix="build-", dir=repo.parent) as tmp:
        work = Path(tmp) / "tree"
        work.mkdir()
        if item.snapshot is None:
            _copy_working(root, work)
        else:
            _extract(item.snapshot, work)
        env = {"GIT_DIR": str(repo / ".git"), "GIT_WORK_TREE": str(work), "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(["add", "--all", "--force", "."], work, env=env)
        tree = _git(["write-tree"], work, env=env).strip()
        return _git(["commit-tree", tree, "-m", f"gosmith template {item.version}"], work, env=env).strip()


def _refresh(root: Path, repo: Path, inputs: list[_Input]) -> None:
    """Add the missing versions to the repository and point their tags at them (under the exclusive lock)."""
    _init(repo)
    index, tags = _index(repo), _tags(repo)
    for item in inputs:
        commit = index.get(item.key)
        if commit is None or subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo,
                                            capture_output=True).returncode != 0:
            commit = _commit_input(root, repo, item)
            index[item.key] = commit
        if tags.get(tag(item.version)) != commit:
            # new, or the unreleased working version changed (a released version never does)
            _git(["update-ref", f"refs/tags/{tag(item.version)}", commit], repo)
    tmp = repo / ".git" / f"{_INDEX}.tmp"
    tmp.write_text(json.dumps(index, sort_keys=True, indent=0), encoding="utf-8")
    tmp.replace(repo / ".git" / _INDEX)


@contextlib.contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    """Hold an advisory lock on `path` (shared or exclusive); a no-op where fcntl does not exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class Materialised:
    """The local git repository holding every known template version, tagged `v<version>`."""

    repo: Path
    versions: tuple[Version, ...]

    @property
    def current(self) -> Version:
        """Return the newest version (the working template)."""
        return self.versions[-1]


@contextlib.contextmanager
def materialised(root: Path | None = None) -> Iterator[Materialised]:
    """Refresh the template repository and hold it (a shared lock) while the caller uses it.

    The repository is one stable directory, `repo_path()`, that every gosmith refreshes append-only
    with the versions it knows: each version is a deterministic root commit (fixed author, date and
    message; its id depends on its files only) tagged `v<version>`. Released versions are frozen, so
    their tags never move and keep their ids on every machine; only the tag of an unreleased working
    version moves when that template changes. Refreshes take an exclusive lock; gosmith commands hold
    a shared one while copier reads the repository, so a concurrent refresh never moves a tag under
    them. Plain copier reads it without locks.
    """
    root = root or source_root()
    versions = tuple(known_versions(root))
    inputs = _inputs(root, versions)
    repo = repo_path()
    repo.parent.mkdir(parents=True, exist_ok=True)
    lock = repo.parent / _LOCK
    for _attempt in range(10):
        with _locked(lock, exclusive=False):
            if _is_current(repo, inputs):
                yield Materialised(repo, versions)
                return
        with _locked(lock, exclusive=True):
            if not _is_current(repo, inputs):
                _refresh(root, repo, inputs)
    raise UserError(f"{repo}: another gosmith with a different template {versions[-1]} keeps retagging it; "
                    "run one at a time")


def materialise(root: Path | None = None) -> Materialised:
    """Refresh the template repository for `root` and return it (see `materialised`)."""
    with materialised(root) as built:
        pass
    _prune(built.repo.parent, keep=built.repo)
    return built


def _prune(base: Path, keep: Path, max_age_days: int = 30) -> None:
    """Delete leftovers unused for `max_age_days`: gosmith 0.1.0's per-digest `template-*` repositories, build dirs."""
    cutoff = time.time() - max_age_days * 86400
    for child in base.iterdir():
        if child == keep or not child.name.startswith(("template-", "build-")):
            continue
        try:
            if child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue


def version_of_commit(src_path: object, commit: object, built: Materialised) -> Version | None:
    """Return the known version whose template a recorded commit id of a local template checkout holds.

    Plain `copier copy` of an untagged template checkout records `_commit` as a commit id. When the
    recorded `_src_path` is a local git repository that has that commit, and its copier.yml,
    template/ and hooks/ are exactly those of a version in `built` (git tree ids compared), that
    version is returned (the newest of equal ones); else None. No network: remote sources are not read.
    """
    if not isinstance(src_path, str) or not isinstance(commit, str) or not _SHA.fullmatch(commit):
        return None
    if "://" in src_path or src_path.startswith(("git@", "gh:", "gl:")):
        return None
    checkout = Path(src_path).expanduser()
    if not checkout.is_dir():
        return None

    def parts(repo: Path, rev: str) -> str | None:
        proc = subprocess.run(["git", "ls-tree", f"{rev}^{{commit}}", "--", *SNAPSHOT_PARTS], cwd=repo,
                              capture_output=True, text=True, env={**os.environ, **_GIT_IDENTITY})
        return proc.stdout if proc.returncode == 0 and proc.stdout.strip() else None

    wanted = parts(checkout, commit)
    if wanted is None:
        return None
    for version in reversed(built.versions):
        if parts(built.repo, tag(version)) == wanted:
            return version
    return None


@contextlib.contextmanager
def copy_source(root: Path | None = None) -> Iterator[tuple[str, str | None]]:
    """Yield `(src_path, vcs_ref)` for a new copy: the template repository at the current version.

    Copier reads the repository by its absolute path; `record_source` then writes the portable
    `_src_path` into the answers file. Without git on PATH copier cannot use a repository; the
    plain template directory is used then (the project records no `_commit` and cannot be updated
    until it is re-copied with git present).
    """
    root = root or source_root()
    if shutil.which("git") is None:
        yield str(root), None
        return
    with materialised(root) as built:
        yield str(built.repo), tag(built.current)
