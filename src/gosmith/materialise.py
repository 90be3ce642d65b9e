"""The local git repository copier copies and updates from: every known template version, tagged `v<version>`.

The release history lives in files (`releases/<version>/`, plain trees), never in git tags of the
gosmith checkout; the working template is the newest version. `materialised()` keeps that history
in one stable local repository, `<cache dir>/template`, one deterministic commit per version, so
copies and updates work offline and on any machine that has this gosmith installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from gosmith import git, releases
from gosmith.errors import GitError, UserError
from gosmith.recorded import repo_path
from gosmith.template import active_root
from gosmith.versions import SHA, known_versions, tag
from gosmith.versions import releases as release_trees

#: Bump when the way the repository is built changes (the repository is rebuilt; released tags keep their ids
#: only while the commit recipe in `_commit_input` stays the same).
_FORMAT = "gosmith-release-repo/3"
_FORMAT_FILE = "gosmith-format"
_INDEX = "gosmith-index.json"
_LOCK = "template.lock"
#: Author and committer date of every version's commit (2000-01-01).
_DATE = 946684800


def _git(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run git with a fixed identity and date so that commits are identical on every machine."""
    fixed = {**git.IDENTITY, "GIT_AUTHOR_DATE": f"@{_DATE} +0000", "GIT_COMMITTER_DATE": f"@{_DATE} +0000"}
    return git.text(args, cwd, env={**fixed, **(env or {})})


@dataclass(frozen=True)
class _Input:
    """One template version this gosmith knows and where its files are."""

    version: Version
    key: str  # hash of the version and its content: the repository's index maps it to its commit
    tree: Path  # a release tree, or the working template root


def _key(version: Version, tree: Path) -> str:
    """Return the index key of `version` built from the files under `tree`."""
    return hashlib.sha256(f"{_FORMAT}\0{version}\0{releases.digest(tree)}".encode()).hexdigest()


def _inputs(root: Path, versions: tuple[Version, ...]) -> list[_Input]:
    """Return the inputs of every known version: release trees, then the working template."""
    current = versions[-1]
    trees = release_trees(root)
    found: list[_Input] = []
    for version in versions:
        tree = trees[version] if version < current else root  # a release of the current version is the working tree
        found.append(_Input(version, _key(version, tree), tree))
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
    except (OSError, GitError):
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


def _commit_input(repo: Path, item: _Input) -> str:
    """Write the commit of one input into the repository (no work tree, no branch) and return its id.

    A root commit of the version's files with a fixed author, date and message: its id depends on
    the version and its files only, so a released version has the same commit on every machine.
    """
    with tempfile.TemporaryDirectory(prefix="build-", dir=repo.parent) as tmp:
        work = Path(tmp) / "tree"
        work.mkdir()
        releases.copy(item.tree, work)
        env = {"GIT_DIR": str(repo / ".git"), "GIT_WORK_TREE": str(work), "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(["add", "--all", "--force", "."], work, env=env)
        tree = _git(["write-tree"], work, env=env).strip()
        return _git(["commit-tree", tree, "-m", f"gosmith template {item.version}"], work, env=env).strip()


def _refresh(repo: Path, inputs: list[_Input]) -> None:
    """Add the missing versions to the repository and point their tags at them (under the exclusive lock)."""
    _init(repo)
    index, tags = _index(repo), _tags(repo)
    for item in inputs:
        commit = index.get(item.key)
        if commit is None or git.run(["cat-file", "-e", f"{commit}^{{commit}}"], repo, check=False).returncode != 0:
            commit = _commit_input(repo, item)
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
    root = root or active_root()
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
                _refresh(repo, inputs)
    raise UserError(f"{repo}: another gosmith with a different template {versions[-1]} keeps retagging it; "
                    "run one at a time")


def exported_tree(built: Materialised, version: Version) -> Path:
    """Return a plain directory holding the files of `version`'s commit (made once per commit, then reused).

    `gosmith new` renders from it: copier reads a directory in place, where a git template costs a
    clone and several git commands per copy. The directory is named after the commit, so a moved tag
    (an unreleased working version that changed) gets a new one; it is never modified once in place.
    """
    commit = _git(["rev-parse", f"{tag(version)}^{{commit}}"], built.repo).strip()
    trees = built.repo.parent / "trees"
    tree = trees / f"{version}-{commit[:16]}"
    if (tree / "copier.yml").is_file():
        os.utime(tree)  # in use: `_prune` keeps it
        return tree
    trees.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=trees) as tmp:
        staging = Path(tmp) / "tree"
        staging.mkdir()
        env = {"GIT_DIR": str(built.repo / ".git"), "GIT_WORK_TREE": str(staging),
               "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(["read-tree", commit], staging, env=env)
        _git(["checkout-index", "--all", "--force"], staging, env=env)
        try:
            staging.rename(tree)
        except OSError:
            if not (tree / "copier.yml").is_file():  # not a concurrent gosmith that was faster
                raise
    return tree


def _loose_tag(repo: Path, version: Version) -> str | None:
    """Return the commit a loose tag file of the repository names (what `git update-ref` writes), else None."""
    try:
        return (repo / ".git" / "refs" / "tags" / tag(version)).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def ready_export(root: Path | None = None) -> tuple[Path, Version] | None:
    """Return `(exported tree, version)` of the working version when the repository is known to hold it, else None.

    `gosmith new` renders the working version's exported tree only; this answers from files alone,
    with no git process and no digest of the release trees: the repository's format marker, its index
    entry for the working template's files, the tag at that commit and a tag for every older version
    (released tags never move), and the exported tree in place. Anything else (first run, a changed
    working template, packed refs, another gosmith retagging) returns None: `materialised()` decides then.
    The tree is never modified once in place, so no lock is needed while copier reads it.
    """
    root = root or active_root()
    versions = known_versions(root)
    current = versions[-1]
    repo = repo_path()
    try:
        if (repo / ".git" / _FORMAT_FILE).read_text(encoding="utf-8") != _FORMAT:
            return None
    except OSError:
        return None
    commit = _index(repo).get(_key(current, root))
    if not isinstance(commit, str) or _loose_tag(repo, current) != commit:
        return None
    if any(_loose_tag(repo, version) is None for version in versions[:-1]):
        return None
    tree = repo.parent / "trees" / f"{current}-{commit[:16]}"
    if not (tree / "copier.yml").is_file():
        return None
    try:
        os.utime(tree)  # in use: `_prune` keeps it
    except OSError:
        return None
    return tree, current


def materialise(root: Path | None = None) -> Materialised:
    """Refresh the template repository for `root` and return it (see `materialised`)."""
    with materialised(root) as built:
        pass
    _prune(built.repo.parent, keep=built.repo)
    if (built.repo.parent / "trees").is_dir():
        _prune(built.repo.parent / "trees", keep=built.repo, prefixes=("", "build-"))
    return built


def _prune(base: Path, keep: Path, max_age_days: int = 30,
           prefixes: tuple[str, ...] = ("template-", "build-")) -> None:
    """Delete leftovers unused for `max_age_days`: gosmith 0.1.0's per-digest `template-*` repositories, build dirs."""
    cutoff = time.time() - max_age_days * 86400
    for child in base.iterdir():
        if child == keep or not child.name.startswith(prefixes):
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
    if not isinstance(src_path, str) or not isinstance(commit, str) or not SHA.fullmatch(commit):
        return None
    if "://" in src_path or src_path.startswith(("git@", "gh:", "gl:")):
        return None
    checkout = Path(src_path).expanduser()
    if not checkout.is_dir():
        return None

    def parts(repo: Path, rev: str) -> str | None:
        proc = git.run(["ls-tree", f"{rev}^{{commit}}", "--", *releases.PARTS], repo, env=git.IDENTITY, check=False)
        out = proc.stdout.decode("utf-8", "replace")
        return out if proc.returncode == 0 and out.strip() else None

    wanted = parts(checkout, commit)
    if wanted is None:
        return None
    for version in reversed(built.versions):
        if parts(built.repo, tag(version)) == wanted:
            return version
    return None
