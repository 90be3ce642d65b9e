#!/usr/bin/env python3
"""Keep the template's release history in files: freeze, check or tag the current template version.

  python scripts/release.py freeze   copy copier.yml, template/ and hooks/ into releases/<version>/
                                     (pyproject's version; refused for a .devN version)
  python scripts/release.py check    fail if a release tree is newer than the working version, or the
                                     working template changed after its version was released
  python scripts/release.py tag      create the git tag v<version> (for plain `copier update`
                                     from this repository; gosmith itself never needs tags)

Release trees are plain files, so `git diff releases/0.1.0 releases/0.2.0` (or `diff -r`) is the
reviewable change between two releases.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gosmith import releases, versions  # noqa: E402
from gosmith.errors import GosmithError  # noqa: E402


def check(root: Path) -> list[str]:
    """Return the problems of `root`'s release history (empty when consistent)."""
    problems: list[str] = []
    current = versions.current_version(root)
    for version, path in versions.releases(root).items():
        if version > current:
            problems.append(f"{path.name}: newer than the working template version {current}")
        elif version == current and releases.digest(path) != releases.digest(root):
            problems.append(f"{path.name}: the template changed after {current} was released; bump the version")
    if not current.is_devrelease and current not in versions.releases(root):
        problems.append(f"{current} is not a .devN version and releases/{current}/ does not exist: "
                        "freeze it (release) or make the working version a .devN")
    return problems


def main(argv: list[str]) -> int:
    """Run the sub-command in `argv`; return the exit code."""
    if len(argv) != 1 or argv[0] not in {"freeze", "check", "tag"}:
        print(__doc__, file=sys.stderr)
        return 2
    version = versions.current_version(ROOT)
    if argv[0] == "freeze":
        try:
            path = releases.write(ROOT, version)
        except GosmithError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {path.relative_to(ROOT)}; commit it, then set [project].version in pyproject.toml "
              "to the next .dev0 version")
        return 0
    if argv[0] == "check":
        problems = check(ROOT)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    subprocess.run(["git", "tag", versions.tag(version)], cwd=ROOT, check=True)
    print(f"tagged {versions.tag(version)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
