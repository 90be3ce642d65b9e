"""Copier task: put the project's Go module path into the template's plain .go files (stdlib only).

Go files that need nothing from the answers but the module path in their imports are plain `.go`
files in the template (gofmt, vet and editors read them in place), importing the placeholder
module `PLACEHOLDER`. copier.yml's `_tasks` runs `python hooks/module_path.py MODULE_PATH` in every
rendered copy (a new project; during an update the old render, the new render and the project),
so all three sides of copier's merge hold the real module path and the merge stays exact.
"""

from __future__ import annotations

import os
import sys

#: The module path the template's plain .go files import; never a real module.
PLACEHOLDER = "gosmith.invalid/module"
#: Directories never walked (a project's own vendored or generated trees are not the template's).
SKIP = {".git", "vendor", "node_modules"}


def rewrite(text: str, module: str) -> str:
    """Return `text` with the placeholder module path replaced by `module` in quoted import paths."""
    return text.replace(f'"{PLACEHOLDER}"', f'"{module}"').replace(f'"{PLACEHOLDER}/', f'"{module}/')


def go_files(root: str) -> list[str]:
    """Return the .go files under `root`, outside SKIP directories (os only: the task runs in every render,
    and pathlib's imports alone cost more than the rewrite)."""
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        found += [os.path.join(top, f) for f in files if f.endswith(".go")]
    return sorted(found)


def main(argv: list[str]) -> int:
    """Rewrite the placeholder in the .go files of the current directory to `MODULE_PATH`; return the exit code."""
    if len(argv) != 1 or not argv[0].strip():
        print("usage: module_path.py MODULE_PATH", file=sys.stderr)
        return 2
    for path in go_files(os.getcwd()):
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        if PLACEHOLDER in text:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(rewrite(text, argv[0].strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
