"""The rules in hooks/ are pure standard-library Python: copier's temporary copies and any Python can load them."""

from __future__ import annotations

import ast
import re
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


# ----------------------------------------------------------------------------- one way to load them
#: The one loader of the rules package: hooks/extension.py's `load_rules` (what copier runs), reached from
#: gosmith, scripts, the docs build, benchmarks and tests through `gosmith.template.rules(root)`.
LOADER = "hooks/extension.py"
#: Loading the package by path (`submodule_search_locations`, its `__init__.py`) or as a top-level `hooks`.
OTHER_LOADER = re.compile(
    r"submodule_search_locations|^\s*(import|from) hooks\b|\"hooks\"\s*/\s*\"__init__\.py\"", re.M)
#: What scripts and benchmarks may not do: put tests/ on the import path (what they share with the tests
#: belongs to gosmith or to their own folder). benchmarks/rollout.py still imports the cluster harness
#: (tests/cluster.py, which imports tests/kubecli.py as a top-level module) that way, until the harness
#: moves to a package of its own.
TESTS_ON_PATH = re.compile(r"sys\.path\.(insert|append)\(.*[\"']tests[\"']")
TESTS_ON_PATH_KNOWN = {"benchmarks/rollout.py"}


def python_sources(*tops: str) -> list[tuple[str, str]]:
    """Return (path relative to the checkout, text) of the Python files under `tops` (no generated trees)."""
    return [(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8"))
            for top in tops for p in sorted((ROOT / top).rglob("*.py"))
            if "golden" not in p.relative_to(ROOT).parts and p != Path(__file__).resolve()]


def test_the_rules_are_loaded_one_way() -> None:
    found = [rel for rel, text in python_sources("src", "scripts", "benchmarks", "docs", "tests", "hooks")
             if OTHER_LOADER.search(text)]
    assert found == [LOADER], f"load the rules with gosmith.template.rules(root), not by hand: {found}"


def test_scripts_do_not_import_from_tests() -> None:
    found = {rel for rel, text in python_sources("scripts", "benchmarks", "src") if TESTS_ON_PATH.search(text)}
    assert found <= TESTS_ON_PATH_KNOWN, f"tests/ put on sys.path by {sorted(found - TESTS_ON_PATH_KNOWN)}"


def test_rules_package_shared_by_content_survives_its_first_copy_going(tmp_path: Path) -> None:
    """Copies of the same rules share one package (named by content); every module of it is loaded while the
    first copy exists, so a later copy still reaches migrations after the first copy's directory is gone
    (a template export or a test's template tree removed while the process runs)."""
    import importlib
    import shutil

    from gen import load_module

    first, second = tmp_path / "a" / "hooks", tmp_path / "b" / "hooks"
    shutil.copytree(ROOT / "hooks", first, ignore=shutil.ignore_patterns("__pycache__"))
    with (first / "migrations.py").open("a") as f:
        f.write(f"# unique content for this test: {tmp_path.name}\n")
    shutil.copytree(first, second)
    package = load_module(first / "extension.py", f"ext_first_{tmp_path.name}").load_rules()
    shutil.rmtree(first)
    again = load_module(second / "extension.py", f"ext_second_{tmp_path.name}").load_rules()
    assert again is package
    assert importlib.import_module(f"{again.__name__}.migrations").rollout_notes("0.1.0", "0.2.0") == []
