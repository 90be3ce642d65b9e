"""The rules in hooks/ are pure standard-library Python: copier's temporary copies and any Python can load them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from gen import ROOT

HOOKS = ROOT / "hooks"
#: extension.py is the one copier extension module: it alone may import copier's Jinja machinery.
RULE_FILES = sorted(p for p in HOOKS.glob("*.py") if p.name != "extension.py")


def top_level_imports(path: Path) -> set[str]:
    """Return the top-level module names `path` imports (relative imports excluded)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_rule_files_exist() -> None:
    assert {p.name for p in RULE_FILES} >= {"quantities.py", "tuning.py", "validate.py", "migrations.py"}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rules_import_only_the_standard_library(path: Path) -> None:
    foreign = top_level_imports(path) - set(sys.stdlib_module_names) - {"__future__"}
    assert not foreign, f"{path.name} imports {sorted(foreign)}; hooks/ rules must stay stdlib-only"


def test_the_check_sees_a_third_party_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom yaml import safe_load\nfrom . import quantities\n")
    assert top_level_imports(bad) - set(sys.stdlib_module_names) == {"yaml"}
