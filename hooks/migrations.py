"""Answers-file migrations between template versions, run by copier before an update (stdlib only).

copier.yml's `_migrations` runs `python hooks/migrations.py ANSWERS_FILE FROM TO` in the project
being updated, before the new template is rendered. Every rename whose version `v` satisfies
`FROM < v <= TO` rewrites `old_name:` to `new_name:` in the answers file, keeping the value, so
an answers file written by an older template keeps its answers under the new question names.
Removed questions need no entry: copier keeps only answers to questions that still exist.

`IN_PLACE_BREAKS` lists the template versions whose chart cannot be `helm upgrade`d in place over a
release of an older one; `gosmith update` prints each note whose version it crosses.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

#: (version that introduced the new name, old question name, new question name), oldest first.
RENAMES: list[tuple[str, str, str]] = [
    # 0.1.0: the application listener's port is `http_port` (next to `admin_port`); answers files
    # that call it `port` keep their value.
    ("0.1.0", "port", "http_port"),
]


#: (template version, note) for each version whose chart a running release of an older version cannot
#: `helm upgrade` to without help: an immutable field changed (the Deployment's `spec.selector`) or a
#: workload renamed (Helm deletes the old one at once, every old pod with it). The note says what breaks
#: and the migration (docs/updating.md, "When a chart cannot be upgraded in place"). Empty: every
#: release so far upgrades in place, proven by the suite (a rollout of each release to the working
#: template under load, and the immutable fields of each release's render compared with today's).
IN_PLACE_BREAKS: list[tuple[str, str]] = []


def version_key(text: str) -> tuple[int, ...]:
    """Return a sortable key for a release version like "1.2.3" (pre/post/local parts ignored)."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    if not match:
        raise ValueError(f"not a version: {text!r}")
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def applicable(from_version: str, to_version: str) -> list[tuple[str, str]]:
    """Return the (old, new) renames that apply when updating from `from_version` to `to_version`."""
    low, high = version_key(from_version), version_key(to_version)
    return [(old, new) for version, old, new in RENAMES if low < version_key(version) <= high]


def rollout_notes(from_version: str, to_version: str) -> list[str]:
    """Return the notes of `IN_PLACE_BREAKS` that apply when updating from `from_version` to `to_version`."""
    low, high = version_key(from_version), version_key(to_version)
    return [f"template {version}: {note}" for version, note in IN_PLACE_BREAKS
            if low < version_key(version) <= high]


def migrate_text(text: str, renames: list[tuple[str, str]]) -> str:
    """Rename top-level keys in answers-file YAML text; an existing new key wins over the old one."""
    lines = text.splitlines(keepends=True)
    for old, new in renames:
        has_new = any(re.match(rf"{re.escape(new)}:(\s|$)", line) for line in lines)
        out: list[str] = []
        skipping = False
        for line in lines:
            if skipping and (line.startswith((" ", "-", "\t")) or not line.strip()):
                continue  # continuation of a dropped multi-line value
            skipping = False
            match = re.match(rf"{re.escape(old)}:(\s|$)", line)
            if match and has_new:
                skipping = True
                continue
            out.append(f"{new}:{line[len(old) + 1:]}" if match else line)
        lines = out
    return "".join(lines)


def main(argv: list[str]) -> int:
    """Apply the renames for `ANSWERS_FILE FROM TO`; return the exit code."""
    if len(argv) != 3:
        print("usage: migrations.py ANSWERS_FILE FROM_VERSION TO_VERSION", file=sys.stderr)
        return 2
    path, from_version, to_version = Path(argv[0]), argv[1], argv[2]
    renames = applicable(from_version, to_version)
    if not renames or not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8")
    migrated = migrate_text(text, renames)
    if migrated != text:
        path.write_text(migrated, encoding="utf-8")
        print(f"migrated answers: {', '.join(f'{o} -> {n}' for o, n in renames)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
