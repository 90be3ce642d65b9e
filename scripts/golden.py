#!/usr/bin/env python3
"""Render the committed golden projects into tests/golden/<set>/ (run it through `make golden`).

Each answer set is rendered the way a user gets it: through gosmith's own API (`gosmith new`: the
template repository materialised in the cache, copier, the portable `_src_path`), with a fresh
temporary GOSMITH_CACHE_DIR and an empty copier settings file so that nothing of the developer's
machine leaks in. The old tree is deleted first, so files the template no longer ships disappear.
The output is byte-identical on every run and machine; `check_portable` refuses anything else.

tests/test_golden.py renders the same sets (`render_set`) and compares them with the committed trees.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gosmith.projects import GOLDEN_SETS

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
#: What `.copier-answers.yml` records as `_src_path` on every machine (gosmith.source.DEFAULT_SOURCE).
PORTABLE_SOURCE = "~/.cache/gosmith/template"

#: Answer sets (`gosmith new NAME --module MODULE --data ...`), one tree each: see gosmith.projects.
SETS: dict[str, dict[str, Any]] = GOLDEN_SETS


def _isolated_env(tmp: Path) -> dict[str, str | None]:
    """Return the environment of a render: a cache in `tmp`, no copier settings, no git config of the developer.

    copier clones the template repository with git: a `core.autocrlf = true` in ~/.gitconfig would
    otherwise turn every line ending of the render into CRLF.
    """
    settings = tmp / "copier-settings.yml"
    settings.write_text("{}\n")
    return {
        "GOSMITH_CACHE_DIR": str(tmp / "cache"),
        "COPIER_SETTINGS_PATH": str(settings),
        "GOSMITH_TEMPLATE_ROOT": None,  # always this checkout's template
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }


@contextlib.contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (None: unset) `values` in os.environ and in plumbum's copy of it (copier runs git through plumbum)."""
    envs: list[Any] = [os.environ]
    try:
        from plumbum import local

        envs.append(local.env)
    except ImportError:  # pragma: no cover - copier depends on plumbum
        pass
    saved = [{name: env.get(name) for name in values} for env in envs]
    try:
        for env in envs:
            for name, value in values.items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
        yield
    finally:
        for env, old in zip(envs, saved, strict=True):
            for name, value in old.items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value


@contextlib.contextmanager
def isolated() -> Iterator[Path]:
    """A fresh temporary GOSMITH_CACHE_DIR, an empty copier settings file and no git config while rendering."""
    with tempfile.TemporaryDirectory(prefix="gosmith-golden-") as tmp, _environment(_isolated_env(Path(tmp))):
        yield Path(tmp)


def render_set(name: str, dst: Path) -> Path:
    """Render answer set `name` into `dst` (which must not exist) with `gosmith new --defaults`."""
    from gosmith.generate import NewRequest, new

    answers = dict(SETS[name])
    service = answers.pop("service_name")
    module = answers.pop("module_path")
    with isolated() as tmp:
        new(NewRequest(name=service, output=dst, module=module, data=answers, defaults=True, quiet=True))
        _portable_source(dst / ".copier-answers.yml")
        check_portable(dst, leaks=[str(tmp.resolve()), str(dst.parent.resolve())])
    return dst


def _portable_source(answers_file: Path) -> None:
    """Record the default cache location as `_src_path` when the temporary cache was under $HOME.

    gosmith records a cache under the home directory as `~/<its place>` (a TMPDIR under $HOME gives
    `~/tmp/gosmith-golden-xyz/cache/template`); every other cache is recorded as PORTABLE_SOURCE,
    which is what a user with the default cache gets.
    """
    text = answers_file.read_text(encoding="utf-8")
    new = re.sub(r"(?m)^_src_path: ~/.*/cache/template$", f"_src_path: {PORTABLE_SOURCE}", text)
    if new != text:
        answers_file.write_text(new, encoding="utf-8")


def check_portable(project: Path, leaks: list[str]) -> None:
    """Refuse a render that records anything of this machine: a local `_src_path`, a commit id, a `leaks` path."""
    answers = (project / ".copier-answers.yml").read_text(encoding="utf-8")
    src = re.search(r"(?m)^_src_path: (.*)$", answers)
    commit = re.search(r"(?m)^_commit: (.*)$", answers)
    if not src or src.group(1) != PORTABLE_SOURCE:
        raise SystemExit(f"{project}: _src_path is {src and src.group(1)!r}, not {PORTABLE_SOURCE!r} "
                         "(is TMPDIR under $HOME?)")
    if not commit or not re.fullmatch(r"v\d+(\.\d+)*\S*", commit.group(1)):
        raise SystemExit(f"{project}: _commit is {commit and commit.group(1)!r}, not a version tag")
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for leak in leaks:
            if leak.encode() in data:
                raise SystemExit(f"{path.relative_to(project)}: contains the machine path {leak}")


def tree(project: Path) -> dict[str, tuple[bytes, bool]]:
    """Return `{posix path: (content, executable)}` for every file under `project`."""
    found: dict[str, tuple[bytes, bool]] = {}
    for path in sorted(project.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(project).as_posix()] = (path.read_bytes(), bool(path.stat().st_mode & 0o100))
    return found


def write(name: str, golden: Path = GOLDEN) -> Path:
    """Replace `golden/<name>` with a fresh render of the answer set."""
    target = golden / name
    golden.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".golden-{name}-", dir=golden) as tmp:
        staged = render_set(name, Path(tmp) / name)
        for path in staged.rglob("*"):  # the same modes on every machine, whatever the umask
            if path.is_file():
                path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
        if target.exists():  # the whole old tree: files the template no longer renders disappear
            shutil.rmtree(target)
        staged.rename(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", metavar="SET", help=f"answer sets to render (default: {', '.join(SETS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sets) - set(SETS))
    if unknown:
        parser.error(f"unknown answer set(s): {', '.join(unknown)}")
    if not args.sets and GOLDEN.is_dir():  # a set dropped from SETS goes too
        for stale in sorted(p for p in GOLDEN.iterdir() if p.is_dir() and p.name not in SETS):
            shutil.rmtree(stale)
            print(f"{stale.relative_to(ROOT)}: removed (not an answer set)")
    for name in args.sets or list(SETS):
        target = write(name)
        print(f"{target.relative_to(ROOT)}: {len(tree(target))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
