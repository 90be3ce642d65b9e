"""Which template gosmith renders: the bundled (or `$GOSMITH_TEMPLATE_ROOT`) root, and the ref a new copy uses."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from gosmith.template import active_root
from gosmith.versions import tag


@contextlib.contextmanager
def copy_source(root: Path | None = None) -> Iterator[tuple[str, str | None]]:
    """Yield `(directory, ref)` for a new copy: the files of the current version's tag, and that tag.

    copier renders the directory in place (no clone); the caller records `_commit: <ref>` and the
    portable `_src_path` (`recorded.record_release`), exactly what copier records when it copies the
    template repository at that tag, which holds the same files. Without git on PATH the plain
    template directory is used and the ref is None (the project records no `_commit` and cannot be
    updated until it is re-copied with git present).
    """
    from gosmith.materialise import exported_tree, materialised, ready_export

    root = root or active_root()
    if shutil.which("git") is None:
        yield str(root), None
        return
    ready = ready_export(root)  # the usual case: no git process, no lock
    if ready is not None:
        yield str(ready[0]), tag(ready[1])
        return
    with materialised(root) as built:
        yield str(exported_tree(built, built.current)), tag(built.current)
