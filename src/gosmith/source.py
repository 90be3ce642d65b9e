"""Where `gosmith new`/`update` take the template from: a local git repo built from the release history.

The release history lives in files, never in git tags of the gosmith checkout: every released
template version is a deterministic snapshot `releases/<version>.tar.gz` (copier.yml, template/,
hooks/), and the working template (versioned by `[project].version` in pyproject.toml, or the
installed package's version inside a wheel) is the newest version. `materialise()` turns that
history into a local git repository, one commit per version tagged `v<version>`, in a cache
directory; copier copies and updates against that repository, so updates work offline and on any
machine that has this gosmith installed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

from packaging.version import InvalidVersion, Version

from gosmith.errors import UserError
from gosmith.template import template_root

#: Paths (relative to the template root) that make up one template version.
SNAPSHOT_PARTS: tuple[str, ...] = ("copier.yml", "template", "hooks")
#: Directory (relative to the template root) holding `<version>.tar.gz` snapshots of older releases.
RELEASES_DIR = "releases"
_SKIP_NAMES = {"__pycache__", ".DS_Store", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
#: Bump when the way the repository is built changes (invalidates every cached repository).
_FORMAT = "gosmith-release-repo/1"
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


def _digest(root: Path) -> str:
    """Return a hash of everything the materialised repository is built from."""
    h = hashlib.sha256(_FORMAT.encode())
    h.update(str(current_version(root)).encode())
    for version, path in release_snapshots(root).items():
        h.update(f"\0release {version}\0".encode())
        h.update(path.read_bytes())
    for rel, path in _template_files(root):
        h.update(f"\0file {rel} {_mode(path):o}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    """Return gosmith's cache directory: `$GOSMITH_CACHE_DIR`, else `$XDG_CACHE_HOME/gosmith`."""
    explicit = os.environ.get("GOSMITH_CACHE_DIR")
    if explicit:
        return Path(explicit).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).resolve() / "gosmith"


def _git(args: list[str], cwd: Path, date: int = 0) -> str:
    """Run git with a fixed identity and date so that commits are identical on every machine."""
    env = {
        **os.environ,
        **_GIT_IDENTITY,
        "GIT_AUTHOR_DATE": f"@{date} +0000",
        "GIT_COMMITTER_DATE": f"@{date} +0000",
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _clear_worktree(repo: Path) -> None:
    """Delete everything in `repo` except `.git`."""
    for child in repo.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _commit_version(repo: Path, version: Version, index: int) -> None:
    """Commit the work tree as template `version` and tag it."""
    _git(["add", "--all", "--force", "."], repo)
    _git(["-c", "commit.gpgsign=false", "commit", "--quiet", "--allow-empty", "--no-verify",
          "-m", f"gosmith template {version}"], repo, date=946684800 + index * 86400)
    _git(["tag", tag(version)], repo)


def _build(root: Path, repo: Path) -> None:
    """Build the release repository for `root` into the empty directory `repo`."""
    current = current_version(root)
    _git(["init", "--quiet", "--initial-branch=main", "."], repo)
    index = 0
    for version, snapshot in release_snapshots(root).items():
        if version >= current:
            continue  # a snapshot of the current version is the working template itself
        _clear_worktree(repo)
        _extract(snapshot, repo)
        _commit_version(repo, version, index)
        index += 1
    _clear_worktree(repo)
    _copy_working(root, repo)
    _commit_version(repo, current, index)


@dataclass(frozen=True)
class Materialised:
    """A local git repository holding every known template version, tagged `v<version>`."""

    repo: Path
    versions: tuple[Version, ...]

    @property
    def current(self) -> Version:
        """Return the newest version (the working template)."""
        return self.versions[-1]


def materialise(root: Path | None = None) -> Materialised:
    """Return the release repository for `root`, building it in the cache dir on first use.

    The directory is named after a hash of everything it is built from and never changes once
    built (a concurrent build of the same inputs yields the same repository; the loser's copy is
    discarded), so a path recorded as `_src_path` keeps meaning what it meant.
    """
    root = root or source_root()
    versions = tuple(known_versions(root))
    digest = _digest(root)
    base = cache_dir()
    repo = base / f"template-{digest[:20]}"
    marker = repo / ".git" / "gosmith-digest"
    if not (marker.is_file() and marker.read_text(encoding="utf-8") == digest):
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="build-", dir=base))
        try:
            _build(root, staging)
            (staging / ".git" / "gosmith-digest").write_text(digest, encoding="utf-8")
            if repo.exists():  # an interrupted or foreign directory: replace it
                shutil.rmtree(repo, ignore_errors=True)
            try:
                staging.rename(repo)
            except OSError:
                if not (marker.is_file() and marker.read_text(encoding="utf-8") == digest):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    os.utime(repo)
    _prune(base, keep=repo)
    return Materialised(repo, versions)


def _prune(base: Path, keep: Path, max_age_days: int = 30) -> None:
    """Delete release repositories in `base` unused for `max_age_days` (and stale build dirs)."""
    cutoff = time.time() - max_age_days * 86400
    for child in base.iterdir():
        if child == keep or not child.name.startswith(("template-", "build-")):
            continue
        try:
            if child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue


def copy_source(root: Path | None = None) -> tuple[str, str | None]:
    """Return `(src_path, vcs_ref)` for a new copy: the release repository at the current version.

    Without git on PATH copier cannot use a repository; the plain template directory is used then
    (the project records no `_commit` and cannot be updated until it is re-copied with git present).
    """
    root = root or source_root()
    if shutil.which("git") is None:
        return str(root), None
    built = materialise(root)
    return str(built.repo), tag(built.current)
