"""Locate the bundled copier template and load its pure rules (hooks/)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

_PACKAGE_DIR = Path(__file__).resolve().parent


def template_root() -> Path:
    """Return the directory holding copier.yml: the source checkout, or the copy inside the wheel."""
    checkout = _PACKAGE_DIR.parents[1]
    if (checkout / "copier.yml").is_file() and (checkout / "template").is_dir():
        return checkout
    bundled = _PACKAGE_DIR / "template_root"
    if (bundled / "copier.yml").is_file():
        return bundled
    raise RuntimeError("gosmith is installed without its template (copier.yml not found)")


def is_git_checkout(root: Path) -> bool:
    """Return whether `root` is the top of a git work tree (copier can then record `_commit`)."""
    return (root / ".git").exists()


@cache
def rules() -> ModuleType:
    """Return the template's hooks package, loaded the same way copier's extension loads it."""
    path = template_root() / "hooks" / "extension.py"
    spec = importlib.util.spec_from_file_location("gosmith_template_extension", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_rules()


@cache
def questions() -> dict[str, dict[str, Any]]:
    """Return copier.yml's questions (keys not starting with '_') in file order."""
    data = yaml.safe_load((template_root() / "copier.yml").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}
