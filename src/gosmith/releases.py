"""The files that make up one template version, and frozen release trees under `releases/<version>/`."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from packaging.version import Version

from gosmith.errors import TemplateError, UserError
from gosmith.versions import RELEASES_DIR, current_version

#: Paths (relative to a template root or a release tree) that make up one template version.
PARTS: tuple[str, ...] = ("copier.yml", "template", "hooks")
_SKIP_NAMES = {"__pycache__", ".DS_Store", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def files(root: Path) -> list[tuple[str, Path]]:
    """Return `(posix relative path, file)` for every file of the template version under `root`, sorted."""
    found: list[tuple[str, Path]] = []
    for part in PARTS:
        base = root / part
        if base.is_file():
            found.append((part, base))
            continue
        if not base.is_dir():
            raise TemplateError(f"template part {part} missing under {root}")
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_NAMES)
            for name in filenames:
                if name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES):
                    continue
                path = Path(dirpath) / name
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def mode(path: Path) -> int:
    """Return 0o755 for executable files, else 0o644 (all git can record)."""
    return 0o755 if os.access(path, os.X_OK) else 0o644


def digest(root: Path) -> str:
    """Return a hash of the version's files: names, modes and bytes."""
    h = hashlib.sha256()
    for rel, path in files(root):
        h.update(f"\0file {rel} {mode(path):o}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def copy(root: Path, dest: Path) -> None:
    """Copy the version's files under `root` into `dest` (modes normalised to 644/755)."""
    for rel, path in files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(mode(path))


def write(root: Path, version: Version | str | None = None) -> Path:
    """Freeze the working template as release `version` (default: the current one) into `releases/<version>/`.

    Refuses a `.devN` version (never released) and an existing release tree with other files.
    """
    version = Version(str(version)) if version else current_version(root)
    if version.is_devrelease:
        raise UserError(f"{version} is a development version; set the release version in pyproject.toml first")
    target = root / RELEASES_DIR / str(version)
    if target.exists():
        if digest(target) != digest(root):
            raise UserError(f"{RELEASES_DIR}/{version} exists and differs from the working template; "
                            "released versions are frozen")
        return target
    staging = target.with_name(f".{version}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    copy(root, staging)
    staging.rename(target)
    return target
