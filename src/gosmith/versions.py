"""Template versions: the working one (pyproject / package metadata), the released ones, and their git tags."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

from packaging.version import InvalidVersion, Version

from gosmith.errors import TemplateError

#: Directory (relative to the template root) holding one plain tree `<version>/` per released version.
RELEASES_DIR = "releases"
#: A commit id as `git describe --always` records it (short or full hex).
SHA = re.compile(r"[0-9a-f]{7,64}")


def tag(version: str | Version) -> str:
    """Return the git tag naming template `version` in the materialised repository."""
    return f"v{version}"


def parse_ref(ref: object) -> Version | None:
    """Return the version named by a recorded `_commit` (`v1.2.3`, `1.2.3` or `v1.3.0.dev0`), else None."""
    if not isinstance(ref, str):
        return None
    if SHA.fullmatch(ref):
        return None  # a commit id (`git describe --always` of an untagged commit), never a version
    text = ref[1:] if ref.startswith("v") else ref
    try:
        parsed = Version(text)
    except InvalidVersion:
        return None
    return parsed if str(parsed) == text else None


def current_version(root: Path) -> Version:
    """Return the version of the working template: pyproject's `[project].version`, else the package's.

    Between releases it is a `.devN` version, so a project generated from an unreleased template never
    records a release's version.
    """
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        text = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    else:
        try:
            text = dist_version("gosmith")
        except PackageNotFoundError as exc:  # pragma: no cover - wheel installs always have metadata
            raise TemplateError("cannot tell the template version: no pyproject.toml and no package metadata") from exc
    return Version(text)


def releases(root: Path) -> dict[Version, Path]:
    """Return `{version: release tree}` for every `releases/<version>/` under `root`, oldest first."""
    folder = root / RELEASES_DIR
    found: dict[Version, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            if not path.is_dir():
                continue
            try:
                version = Version(path.name)
            except InvalidVersion:
                continue
            if str(version) == path.name:
                found[version] = path
    return dict(sorted(found.items()))


def known_versions(root: Path) -> list[Version]:
    """Return every template version this gosmith can render, oldest first (the working one last)."""
    current = current_version(root)
    return sorted({*(v for v in releases(root) if v <= current), current})
