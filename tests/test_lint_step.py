"""One lint step for `make lint` and `make test`: ruff over every Python directory, mypy over the package."""

from __future__ import annotations

import re
import subprocess

from gen import ROOT


def test_make_lint_and_make_test_run_the_same_lint_script() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint_recipe = re.search(r"(?m)^lint:.*\n((?:\t.*\n)+)", makefile)
    assert lint_recipe and "scripts/lint.sh" in lint_recipe.group(1)
    assert "bash scripts/lint.sh" in (ROOT / "scripts" / "test.sh").read_text()


def test_ruff_covers_every_python_directory() -> None:
    script = (ROOT / "scripts" / "lint.sh").read_text()
    ruff_line = next(line for line in script.splitlines() if "ruff check" in line)
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    tops = {path.split("/", 1)[0] for path in tracked.stdout.split() if "/" in path}
    tops -= {"releases", "template"}  # frozen release trees; template Python is copied into projects
    assert tops <= set(ruff_line.split()), tops - set(ruff_line.split())


def test_lint_script_passes() -> None:
    """ruff and mypy (strict settings in pyproject's [tool.mypy]) are clean on the tree as committed."""
    proc = subprocess.run(["bash", "scripts/lint.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
