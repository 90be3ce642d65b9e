"""`gosmith new`: render the template into a new directory through copier's Python API."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier

from gosmith import answers as answers_mod
from gosmith.errors import UserError
from gosmith.source import copy_source


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


def collect_answers(req: NewRequest) -> dict[str, Any]:
    """Merge answers: answers file, then --data, then NAME and --module; validate them all."""
    merged: dict[str, Any] = {}
    if req.answers_file:
        merged.update(answers_mod.load_answers_file(req.answers_file))
    merged.update(req.data)
    merged["service_name"] = req.name
    if req.module:
        merged["module_path"] = req.module
    answers_mod.check_all(merged)
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


def new(req: NewRequest) -> Path:
    """Generate a service; on any error nothing is left behind. Returns the output directory."""
    data = collect_answers(req)
    dst = (req.output or Path(req.name)).resolve()
    if dst.exists() and not dst.is_dir():
        raise UserError(f"output {dst} exists and is not a directory")
    existed = dst.exists()
    created = dst if existed else _first_created(dst)
    if existed and any(dst.iterdir()) and not req.force:
        raise UserError(f"output directory {dst} is not empty (use --force to write into it)")
    src_path, vcs_ref = copy_source()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copier.run_copy(
                src_path,
                str(dst),
                data=data,
                defaults=req.defaults,
                unsafe=True,
                overwrite=req.force,
                pretend=req.pretend,
                quiet=req.quiet,
                vcs_ref=vcs_ref,
            )
    except (ValueError, copier.errors.CopierError) as exc:
        if not existed and created.exists():
            shutil.rmtree(created)
        raise UserError(str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__) from exc
    except OSError as exc:
        if not existed and created.exists():
            shutil.rmtree(created)
        raise UserError(f"cannot write {dst}: {exc.strerror or exc}") from exc
    except BaseException:
        if not existed and created.exists():
            shutil.rmtree(created)
        raise
    return dst
