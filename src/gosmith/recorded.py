"""What a project records about its template: the portable `_src_path` and the cache directory behind it."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

#: The repository's directory in the cache dir, and what `_src_path` records when the cache is not under $HOME.
REPO_NAME = "template"
DEFAULT_SOURCE = "~/.cache/gosmith/template"


def cache_dir() -> Path:
    """Return gosmith's cache directory: `$GOSMITH_CACHE_DIR`, else `$XDG_CACHE_HOME/gosmith`, else ~/.cache/gosmith."""
    explicit = os.environ.get("GOSMITH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "gosmith"


#: The variable hooks/extension.py reads to give copier's Jinja environment a bytecode cache.
JINJA_CACHE_ENV = "GOSMITH_JINJA_CACHE"


@contextlib.contextmanager
def jinja_cache() -> Iterator[None]:
    """Let the template's extension cache compiled Jinja templates under `<cache dir>/jinja` while copier runs.

    Jinja's FileSystemBytecodeCache keys each entry by template name and source checksum, so a
    changed template is compiled again; the large files (README, values.yaml, workflows) then compile
    once per machine instead of once per render.
    """
    previous = os.environ.get(JINJA_CACHE_ENV)
    os.environ[JINJA_CACHE_ENV] = str(cache_dir() / "jinja")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(JINJA_CACHE_ENV, None)
        else:
            os.environ[JINJA_CACHE_ENV] = previous


def repo_path() -> Path:
    """Return the one template repository of this machine and cache: `<cache dir>/template`."""
    return cache_dir() / REPO_NAME


def recorded_source(repo: Path | None = None) -> str:
    """Return the `_src_path` gosmith records for the template repository `repo` (default: `repo_path()`).

    It is never a path of this machine: the repository's place relative to the home directory
    (`~/.cache/gosmith/template` by default; copier expands `~` itself), so that plain
    `copier update` finds the template on any machine where gosmith has materialised it. A cache
    outside the home directory (`$GOSMITH_CACHE_DIR` or `$XDG_CACHE_HOME` elsewhere, e.g. a CI
    cache volume) would leak that machine's layout: the default location `DEFAULT_SOURCE` is
    recorded then, which is where gosmith keeps the template on every machine without those overrides.
    """
    repo = (repo or repo_path()).resolve()
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home directory at all
        return DEFAULT_SOURCE
    if home == Path(home.anchor):
        return DEFAULT_SOURCE
    try:
        rel = repo.relative_to(home)
    except ValueError:
        return DEFAULT_SOURCE
    return "~/" + rel.as_posix() if rel.parts else DEFAULT_SOURCE


def set_answers(answers_file: Path, **values: str) -> None:
    """Replace top-level entries of a copier answers file in place, keeping every other line as it is."""
    text = answers_file.read_text(encoding="utf-8")
    for key, value in values.items():
        line = yaml.safe_dump({key: value}, default_flow_style=False, width=1 << 16).rstrip("\n")
        # the entry plus any continuation lines YAML may have folded a long value onto
        entry = re.compile(rf"(?m)^{re.escape(key)}:.*(?:\n[ \t]+\S.*)*$")
        text, count = entry.subn(lambda _, line=line: line, text)  # type: ignore[misc]
        if count == 0:
            text = f"{line}\n{text}"
    answers_file.write_text(text, encoding="utf-8")


def record_source(answers_file: Path) -> None:
    """Replace the `_src_path` copier wrote into `answers_file` (an absolute path) by `recorded_source()`."""
    if answers_file.is_file():
        set_answers(answers_file, _src_path=recorded_source())


def record_release(answers_file: Path, ref: str) -> None:
    """Record the portable `_src_path` and `_commit: <ref>` (placed before `_src_path`, where copier puts it)."""
    if not answers_file.is_file():
        return
    record_source(answers_file)
    text = answers_file.read_text(encoding="utf-8")
    line = yaml.safe_dump({"_commit": ref}, default_flow_style=False, width=1 << 16).rstrip("\n")
    if re.search(r"(?m)^_commit:", text):
        set_answers(answers_file, _commit=ref)
        return
    new, count = re.subn(r"(?m)^_src_path:", lambda m: f"{line}\n{m.group(0)}", text, count=1)
    answers_file.write_text(new if count else f"{line}\n{text}", encoding="utf-8")
