"""Copier task: put the project's Go module path into the template's plain .go files (stdlib only).

Go files that need nothing from the answers but the module path in their imports are plain `.go`
files in the template (gofmt, vet and editors read them in place), importing the placeholder
module `PLACEHOLDER`. copier.yml's `_tasks` runs `python hooks/module_path.py MODULE_PATH` in every
rendered copy (a new project; during an update the old render, the new render and the project),
so all three sides of copier's merge hold the real module path and the merge stays exact.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The module path the template's plain .go files import; never a real module.
PLACEHOLDER = "gosmith.invalid/module"
#: Directories never walked (a project's own vendored or generated trees are not the template's).
SKIP = {".git", "vendor", "node_modules"}


def rewrite(text: str, module: str) -> str:
    """Return `text` with the placeholder module path replaced by `module` in quoted import paths."""
    return text.replace(f'"{PLACEHOLDER}"', f'"{module}"').replace(f'"{PLACEHOLDER}/', f'"{module}/')


def go_files(root: Path) -> list[Path]:
    """Return the .go files under `root`, outside SKIP directories."""
    found = []
    for path in root.rglob("*.go"):
        if not SKIP.intersection(path.relative_to(root).parts) and path.is_file():
            found.append(path)
    return sorted(found)


def main(argv: list[str]) -> int:
    """Rewrite the placeholder in the .go files of the current directory to `MODULE_PATH`; return the exit code."""
    if len(argv) != 1 or not argv[0].strip():
        print("usage: module_path.py MODULE_PATH", file=sys.stderr)
        return 2
    for path in go_files(Path.cwd()):
        text = path.read_text(encoding="utf-8")
        if PLACEHOLDER in text:
            path.write_text(rewrite(text, argv[0].strip()), encoding="utf-8", newline="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
