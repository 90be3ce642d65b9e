"""Which template gosmith renders: the bundled (or `$GOSMITH_TEMPLATE_ROOT`) root, and the ref a new copy uses."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from gosmith.template import active_root
from gosmith.versions import tag


def source_root() -> Path:
    """Return the template root to use (`gosmith.template.active_root`)."""
    return active_root()


@contextlib.contextmanager
def copy_source(root: Path | None = None) -> Iterator[tuple[str, str | None]]:
    """Yield `(src_path, vcs_ref)` for a new copy: the template repository at the current version.

    Copier reads the repository by its absolute path; `recorded.record_source` then writes the
    portable `_src_path` into the answers file. Without git on PATH copier cannot use a repository;
    the plain template directory is used then (the project records no `_commit` and cannot be
    updated until it is re-copied with git present).
    """
    from gosmith.materialise import materialised

    root = root or source_root()
    if shutil.which("git") is None:
        yield str(root), None
        return
    with materialised(root) as built:
        yield str(built.repo), tag(built.current)
