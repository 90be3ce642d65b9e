"""Run git for gosmith: one runner whose failures are GitError, and NUL-separated porcelain parsing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gosmith.errors import GitError

#: A fixed identity and no user or system config: commits gosmith makes are the same on every machine.
IDENTITY: dict[str, str] = {
    "GIT_AUTHOR_NAME": "gosmith",
    "GIT_AUTHOR_EMAIL": "gosmith@localhost",
    "GIT_COMMITTER_NAME": "gosmith",
    "GIT_COMMITTER_EMAIL": "gosmith@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


#: Checkouts byte for byte: a user's core.autocrlf (or core.eol) would otherwise turn the LF files of the
#: template and of the project's clone into CRLF ones, and gosmith would copy them into the project.
BYTE_EXACT: dict[str, str] = {"core.autocrlf": "false", "core.eol": "lf"}


@contextmanager
def byte_exact_checkouts() -> Iterator[None]:
    """Make every git this process starts meanwhile (gosmith's, and copier's through plumbum) use BYTE_EXACT.

    The settings go in as GIT_CONFIG_COUNT/KEY/VALUE, which outrank every config file; plumbum keeps a
    copy of the environment taken when it was imported (here, if copier has not yet), so it gets them
    too. Both are restored after.
    """
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    extra = {"GIT_CONFIG_COUNT": str(count + len(BYTE_EXACT))}
    for i, (key, value) in enumerate(BYTE_EXACT.items(), start=count):
        extra[f"GIT_CONFIG_KEY_{i}"], extra[f"GIT_CONFIG_VALUE_{i}"] = key, value
    envs: list[Any] = [os.environ]
    try:  # copier runs git through plumbum
        from plumbum import local

        envs.append(local.env)
    except ImportError:  # pragma: no cover - copier depends on plumbum
        pass
    saved = [{key: env.get(key) for key in extra} for env in envs]
    for env in envs:
        env.update(extra)
    try:
        yield
    finally:
        for env, before in zip(envs, saved, strict=True):
            for key, value in before.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value


def run(args: list[str], cwd: Path, *, env: Mapping[str, str] | None = None, check: bool = True,
        input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `git args` in `cwd` (bytes in and out); raise GitError with git's first stderr line when it fails."""
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input,
                              env={**os.environ, **(env or {})})
    except FileNotFoundError as exc:
        raise GitError("git is not installed (not found on PATH)") from exc
    if check and proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed in {cwd}: {lines[0] if lines else f'exit {proc.returncode}'}")
    return proc


def text(args: list[str], cwd: Path, *, env: Mapping[str, str] | None = None) -> str:
    """Return the decoded stdout of a git command that must succeed."""
    return run(args, cwd, env=env).stdout.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Status:
    """One entry of `git status --porcelain=v1 -z`: the two-letter code, the path, and the old path of a rename."""

    code: str
    path: str
    orig: str | None = None


def parse_status_z(raw: bytes) -> list[Status]:
    """Parse `git status --porcelain=v1 -z` output (paths unquoted; a rename's source follows as its own field)."""
    fields = raw.decode("utf-8", "surrogateescape").split("\0")
    out: list[Status] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        orig = None
        if code[0] in "RC" or code[1] in "RC":
            orig = fields[i] if i < len(fields) else None
            i += 1
        out.append(Status(code, path, orig))
    return out


def status(cwd: Path, *extra: str) -> list[Status]:
    """Return `git status` entries of `cwd` (untracked files listed one by one; `extra` adds options/pathspecs)."""
    return parse_status_z(run(["status", "--porcelain=v1", "-z", "--untracked-files=all", *extra], cwd).stdout)
