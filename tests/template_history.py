"""A template release history built in a tmp dir, for the update, check and versioning tests.

`make_root` writes a gosmith source tree whose release `OLD` (`releases/0.0.9/`) is the working
template as it is today (plus an optional change) and whose working template (version `NEW`)
carries a change made by the test; gosmith is pointed at it with GOSMITH_TEMPLATE_ROOT.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import released
from gen import ROOT, run
from typer.testing import CliRunner

from gosmith import releases
from gosmith.cli import app

OLD, NEW = "0.0.9", "0.1.0"
TEMPLATE_LINE = "// Template change introduced in 0.1.0: keep main small, logic lives in internal/."
USER_LINE = "// Local note: this service is owned by the orders team."
HANDLER = '''// Package hello is a handler added by the service team after generation.
package hello

import "net/http"

// Handler answers every request with a greeting.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello\\n"))
	})
}
'''
HANDLER_TEST = '''package hello

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := rec.Body.String(); got != "hello\\n" {
		t.Fatalf("body = %q", got)
	}
}
'''
USER_FUNC = '''
// localBanner is a helper the service team added at the end of main.go.
func localBanner() string { return "orders" }
'''


def copy_template(dst: Path) -> Path:
    """Copy the working template (copier.yml, template/, hooks/) into `dst`."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "copier.yml", dst / "copier.yml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "template", dst / "template", ignore=ignore)
    shutil.copytree(ROOT / "hooks", dst / "hooks", ignore=ignore)
    return dst


def main_go(template_dir: Path) -> Path:
    """Return the template's cmd/<service>/main.go.jinja."""
    return next((template_dir / "template" / "cmd").glob("*/main.go.jinja"))


def add_template_line(template_dir: Path, line: str = TEMPLATE_LINE) -> None:
    """Template change: a comment right after `package main` in main.go."""
    path = main_go(template_dir)
    text = path.read_text()
    assert re.search(r"(?m)^package main$", text)
    path.write_text(re.sub(r"(?m)^package main$", f"package main\n\n{line}", text, count=1))


def add_template_file(template_dir: Path) -> None:
    """Template change: a new Go file in the new version."""
    (template_dir / "template" / "internal" / "buildnote").mkdir(parents=True, exist_ok=True)
    (template_dir / "template" / "internal" / "buildnote" / "note.go").write_text(
        "// Package buildnote was added to the template in 0.1.0.\npackage buildnote\n\n"
        "// Note describes the template version that added this package.\nconst Note = \"0.1.0\"\n"
    )


def make_root(
    base: Path,
    change: Callable[[Path], None] | None = None,
    old_change: Callable[[Path], None] | None = None,
) -> Path:
    """Build a gosmith source tree: release OLD = today's template (+old_change), working NEW = +change."""
    root = copy_template(base / "gosmith-src")
    (root / "pyproject.toml").write_text(f'[project]\nname = "gosmith"\nversion = "{OLD}"\n')
    if old_change:
        old_change(root)
    releases.write(root, OLD)
    if old_change:  # the working template is today's again, plus the new change
        shutil.rmtree(root / "template")
        shutil.rmtree(root / "hooks")
        copy_template(root)
    if change:
        change(root)
    (root / "pyproject.toml").write_text(f'[project]\nname = "gosmith"\nversion = "{NEW}"\n')
    return root


def generate_old(root: Path, dst: Path, answers: dict[str, Any]) -> Path:
    """Generate a project at template OLD (from the release repository) and commit it."""
    return released.generate(root, OLD, dst, answers)


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` and return stdout."""
    return run(["git", *args], cwd)


def commit(cwd: Path, message: str) -> None:
    """Commit everything in `cwd`."""
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "-m", message)


def cli(*args: str) -> Any:
    """Invoke gosmith in-process; exit codes match the console script."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)
