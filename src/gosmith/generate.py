"""`gosmith new`: render the template into a new directory through copier's Python API.

The project is rendered into a staging directory next to the output first and moved into place
only when copier has finished: an error or Ctrl-C while questions are asked or files are rendered
leaves nothing behind, and `--force` can tell which existing files it replaced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier

from gosmith import answers as answers_mod
from gosmith.copier_adapter import (
    COPIER_PREFIX,
    libyaml_config,
    no_bundle_probe,
    no_git_index_sync,
    plain_progress,
    readable_prompts,
    reuse_compiled_strings,
    reuse_render_answers,
)
from gosmith.errors import Aborted, AnswerError, GosmithError, UserError
from gosmith.interrupts import no_interrupt
from gosmith.recorded import jinja_cache, record_release, record_source
from gosmith.source import copy_source
from gosmith.versions import parse_ref


def aborted() -> Aborted:
    """Return the error of an interrupted `gosmith new`: exit 130 (128 + SIGINT, as shells report it)."""
    return Aborted("aborted, nothing written")


@dataclass
class NewRequest:
    """Everything `gosmith new` needs; the CLI fills it from its options."""

    name: str
    output: Path | None = None
    module: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    answers_file: Path | None = None
    defaults: bool = True
    pretend: bool = False
    force: bool = False
    quiet: bool = True


@dataclass
class Generated:
    """What `gosmith new` wrote: the project directory and the existing files it replaced (--force)."""

    path: Path
    overwritten: list[str] = field(default_factory=list)


def collect_answers(req: NewRequest) -> dict[str, Any]:
    """Merge answers: answers file, then --data, then NAME and --module; refuse unknown keys and wrong shapes.

    The template's rules run once, when copier renders (its question validators and the context hook
    in hooks/extension.py, which also prints the tuning warnings), with defaults rendered by copier.
    """
    merged: dict[str, Any] = {}
    if req.answers_file:
        from_file = answers_mod.load_answers_file(req.answers_file)
        merged.update(answers_mod.normalize_lists(from_file, f"--answers-file {req.answers_file}: "))
    merged.update(answers_mod.normalize_lists(req.data, "--data "))
    merged["service_name"] = req.name
    if req.module:
        merged["module_path"] = req.module
    answers_mod.check_given(merged)
    return merged


def _first_created(dst: Path) -> Path:
    """Return the topmost directory of dst that does not exist yet; refuse a file on the way."""
    top = dst
    for parent in dst.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"output {dst}: {parent} exists and is not a directory")
            break
        top = parent
    return top


# --------------------------------------------------------------------------------- moving into place


def _move_into(staged: Path, dst: Path) -> list[str]:
    """Move every file of `staged` into `dst`; return the existing files whose content was replaced."""
    overwritten: list[str] = []
    for dirpath, dirnames, filenames in os.walk(staged):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(staged)
        target_dir = dst / rel_dir
        if target_dir.exists() and not target_dir.is_dir():
            raise UserError(f"cannot write {target_dir}: a file is in the way of a directory")
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            src, target = Path(dirpath) / name, target_dir / name
            if target.is_dir() and not target.is_symlink():
                raise UserError(f"cannot write {target}: a directory is in the way of a file")
            if target.exists() and target.read_bytes() != src.read_bytes():
                overwritten.append((rel_dir / name).as_posix())
            os.replace(src, target)
    return overwritten


def _move_whole(staged: Path, dst: Path) -> list[str]:
    """Move the staged project to `dst`, which does not exist yet: one rename (files one by one across file systems)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staged, dst)
    except OSError:  # another file system (the staging directory fell back to the temp dir), or a race
        return _move_into(staged, dst)
    return []


def _staging_dir(near: Path) -> Path:
    """Return a fresh private directory on the same file system as `near` (so moves are renames)."""
    try:
        return Path(tempfile.mkdtemp(prefix=".gosmith-new-", dir=near))
    except OSError:
        return Path(tempfile.mkdtemp(prefix="gosmith-new-"))


def _run_copier(dst: Path, data: dict[str, Any], req: NewRequest) -> None:
    """Render the template into `dst` with copier (questions asked unless `req.defaults`)."""
    with copy_source() as (src_path, vcs_ref), readable_prompts(), no_git_index_sync(), reuse_compiled_strings(), \
            jinja_cache(), plain_progress(parse_ref(vcs_ref)), reuse_render_answers(), libyaml_config(), \
            no_bundle_probe():
        copier.run_copy(
            src_path,
            str(dst),
            data=data,
            defaults=req.defaults,
            unsafe=True,
            overwrite=True,
            pretend=req.pretend,
            quiet=req.quiet,
        )
    answers_mod.print_warnings(answers_mod.rendered_warnings(dst))
    if not req.pretend and vcs_ref is not None:
        # the release tag whose files were rendered, and a portable `_src_path` (never a path of this machine)
        record_release(dst / ".copier-answers.yml", vcs_ref)
    elif not req.pretend:
        record_source(dst / ".copier-answers.yml")


def _copier_failure(exc: BaseException, given: dict[str, Any]) -> GosmithError:
    """Return the one-line error for a copier failure (a refused answer: an AnswerError, its quoted defaults named)."""
    if isinstance(exc, copier.errors.CopierAnswersInterrupt):
        return aborted()
    text = str(exc).strip()
    reason = COPIER_PREFIX.sub("", text.splitlines()[0]) if text else exc.__class__.__name__
    if isinstance(exc, copier.errors.UserMessageError) or COPIER_PREFIX.match(text):
        return AnswerError(answers_mod.name_defaults(reason, given))
    return UserError(reason)


def generate(req: NewRequest) -> Generated:
    """Generate a service; on any error or Ctrl-C nothing is left behind."""
    try:
        return _generate(req)
    except KeyboardInterrupt:
        raise aborted() from None


def _generate(req: NewRequest) -> Generated:
    data = collect_answers(req)
    dst = (req.output or Path(req.name)).resolve()
    if dst.exists() and not dst.is_dir():
        raise UserError(f"output {dst} exists and is not a directory")
    existed = dst.exists()
    created = dst if existed else _first_created(dst)
    if existed and any(dst.iterdir()) and not req.force:
        raise UserError(f"output directory {dst} is not empty (use --force to write into it)")
    if req.pretend:
        try:
            _run_copier(dst, data, req)
        except (ValueError, TypeError, copier.errors.CopierError) as exc:
            raise _copier_failure(exc, data) from exc
        return Generated(dst)
    staging = _staging_dir(created.parent)
    try:
        staged = staging / dst.name
        try:
            _run_copier(staged, data, req)
        except (ValueError, TypeError, copier.errors.CopierError) as exc:
            raise _copier_failure(exc, data) from exc
        except OSError as exc:
            raise UserError(f"cannot write {dst}: {exc.strerror or exc}") from exc
        with no_interrupt():
            try:
                overwritten = _move_into(staged, dst) if existed else _move_whole(staged, dst)
            except OSError as exc:
                if not existed:
                    shutil.rmtree(created, ignore_errors=True)
                raise UserError(f"cannot write {dst}: {exc.strerror or exc}") from exc
            except UserError:
                if not existed:
                    shutil.rmtree(created, ignore_errors=True)
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Generated(dst, overwritten)


def new(req: NewRequest) -> Path:
    """Generate a service; on any error nothing is left behind. Returns the output directory."""
    return generate(req).path
