#!/usr/bin/env python3
"""Keep the template's release history in files: snapshot, check or tag the current template version.

  python scripts/release.py snapshot   write releases/<version>.tar.gz for pyproject's version
  python scripts/release.py check      fail if a snapshot is not reproducible or the released
                                       template changed without a version bump
  python scripts/release.py tag        create the git tag v<version> (for plain `copier update`
                                       from this repository; gosmith itself never needs tags)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gosmith import source  # noqa: E402
from gosmith.errors import UserError  # noqa: E402


def check(root: Path) -> list[str]:
    """Return the problems of `root`'s release history (empty when consistent)."""
    problems: list[str] = []
    current = source.current_version(root)
    for version, path in source.release_snapshots(root).items():
        if version > current:
            problems.append(f"{path.name}: newer than the working template version {current}")
        elif version == current and not source.same_snapshot(path.read_bytes(), source.snapshot_bytes(root)):
            problems.append(f"{path.name}: the template changed after {current} was released; bump the version")
    return problems


def main(argv: list[str]) -> int:
    """Run the sub-command in `argv`; return the exit code."""
    if len(argv) != 1 or argv[0] not in {"snapshot", "check", "tag"}:
        print(__doc__, file=sys.stderr)
        return 2
    version = source.current_version(ROOT)
    if argv[0] == "snapshot":
        try:
            path = source.write_snapshot(ROOT, version)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {path.relative_to(ROOT)}; commit it, then bump [project].version in pyproject.toml")
        return 0
    if argv[0] == "check":
        problems = check(ROOT)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    subprocess.run(["git", "tag", source.tag(version)], cwd=ROOT, check=True)
    print(f"tagged {source.tag(version)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
