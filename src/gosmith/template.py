"""Locate the template gosmith renders and load its questions and pure rules (hooks/).

One notion of the template root: `active_root()` is `$GOSMITH_TEMPLATE_ROOT` (another gosmith tree,
for development and tests) or the bundled template; every function takes the root explicitly and
defaults to it.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from gosmith.errors import TemplateError, UserError

_PACKAGE_DIR = Path(__file__).resolve().parent


def template_root() -> Path:
    """Return the bundled directory holding copier.yml: the source checkout, or the copy inside the wheel."""
    checkout = _PACKAGE_DIR.parents[1]
    if (checkout / "copier.yml").is_file() and (checkout / "template").is_dir():
        return checkout
    bundled = _PACKAGE_DIR / "template_root"
    if (bundled / "copier.yml").is_file():
        return bundled
    raise TemplateError("gosmith is installed without its template (copier.yml not found)")


def active_root() -> Path:
    """Return the template root to use: `$GOSMITH_TEMPLATE_ROOT` (another gosmith tree) or the bundled one."""
    override = os.environ.get("GOSMITH_TEMPLATE_ROOT")
    if override:
        root = Path(override).resolve()
        if not (root / "copier.yml").is_file():
            raise UserError(f"GOSMITH_TEMPLATE_ROOT={override}: no copier.yml there")
        return root
    return template_root()


@cache
def _extension(root: Path) -> ModuleType:
    """Return the template's copier extension module (hooks/extension.py), loaded by path as copier does."""
    path = root / "hooks" / "extension.py"
    name = "gosmith_template_extension" if root == template_root() else f"gosmith_template_extension_{abs(hash(root))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TemplateError(f"{path}: cannot load the template's extension")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rules(root: Path | None = None) -> ModuleType:
    """Return the template's hooks package, loaded the same way copier's extension loads it."""
    return _extension(root or active_root()).load_rules()


def migrations(root: Path | None = None) -> ModuleType:
    """Return the template's answers and rollout migrations (hooks/migrations.py)."""
    return importlib.import_module(f"{rules(root).__name__}.migrations")


def filters_extension(root: Path | None = None) -> type:
    """Return the template's Jinja extension that adds its filters (what copier.yml's validators call)."""
    return _extension(root or active_root()).GosmithFilters


def config(root: Path | None = None) -> dict[str, Any]:
    """Return the template's parsed copier.yml."""
    return _config(root or active_root())


@cache
def _config(root: Path) -> dict[str, Any]:
    # libyaml's loader when PyYAML has it: the same data, several times faster than the pure-Python one
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load((root / "copier.yml").read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(data, dict):
        raise TemplateError(f"{root / 'copier.yml'}: not a mapping")
    return data


def questions(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Return copier.yml's questions (keys not starting with '_') in file order."""
    return {k: v for k, v in config(root).items() if not k.startswith("_")}
