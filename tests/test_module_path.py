"""The template's plain .go files import a placeholder module that a copier task rewrites after every render."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gen import ROOT, load_module
from hypothesis import given
from hypothesis import strategies as hs

mp = load_module(ROOT / "hooks" / "module_path.py", "gosmith_module_path")
MODULES = hs.from_regex(r"[a-z][a-z0-9]{0,8}\.(com|io|dev)(/[a-z][-a-z0-9_.]{0,10}){0,3}", fullmatch=True)


def test_plain_go_files_import_only_the_placeholder_and_need_no_jinja() -> None:
    """Every plain .go file of the template is gofmt-able as it is: no Jinja, and module imports use the
    placeholder; every .go.jinja needs an answer besides the module path (or it would be a plain file)."""
    plain = [p for p in (ROOT / "template").rglob("*.go")]
    assert len(plain) >= 11
    for path in plain:
        text = path.read_text()
        assert not re.search(r"\{\{-? |\{%", text), f"{path} holds Jinja (only .jinja files are rendered)"
    for path in (ROOT / "template").rglob("*.go.jinja"):
        exprs = re.findall(r"\{\{.*?\}\}|\{%.*?%\}", path.read_text())
        assert any(e != "{{ module_path }}" for e in exprs), f"{path} needs only the module path: make it plain .go"
    out = subprocess.run(["gofmt", "-l", *map(str, plain)], capture_output=True, text=True, check=True).stdout
    assert out == "", out


@given(MODULES)
def test_rewrite_replaces_only_quoted_placeholder_paths(module: str) -> None:
    text = (f'import (\n\t"net/http"\n\n\t"{mp.PLACEHOLDER}/internal/config"\n)\n'
            f'// {mp.PLACEHOLDER} in a comment stays\nvar s = "{mp.PLACEHOLDER}"\n')
    out = mp.rewrite(text, module)
    assert f'"{module}/internal/config"' in out and f'var s = "{module}"' in out
    assert f"// {mp.PLACEHOLDER} in a comment stays" in out
    assert mp.rewrite(out, module) == out  # idempotent: the task runs on every render of an update


def test_task_rewrites_go_files_and_skips_vendor_and_git(tmp_path: Path) -> None:
    (tmp_path / "internal").mkdir()
    (tmp_path / "vendor").mkdir()
    (tmp_path / ".git").mkdir()
    src = f'package x\n\nimport "{mp.PLACEHOLDER}/internal/a"\n'
    for rel in ("internal/a.go", "vendor/v.go", ".git/g.go", "internal/notes.txt"):
        (tmp_path / rel).write_text(src)
    proc = subprocess.run([sys.executable, "-I", "-S", str(ROOT / "hooks" / "module_path.py"), "example.com/svc"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "internal/a.go").read_text() == 'package x\n\nimport "example.com/svc/internal/a"\n'
    for rel in ("vendor/v.go", ".git/g.go", "internal/notes.txt"):
        assert (tmp_path / rel).read_text() == src, rel
    bad = subprocess.run([sys.executable, str(ROOT / "hooks" / "module_path.py")], cwd=tmp_path,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_rendered_projects_hold_no_placeholder(rendered) -> None:  # type: ignore[no-untyped-def]
    """A real render (copier runs the task) leaves the placeholder nowhere, with the answer's module path."""
    for name in ("defaults", "grpc-b3-reload-go126"):
        project = rendered(name)
        module = rendered.answers(name).get("module_path") or f"example.com/{rendered.answers(name)['service_name']}"
        hits = [p for p in project.rglob("*.go") if mp.PLACEHOLDER in p.read_text()]
        assert hits == [], hits
        assert f'"{module}/internal/config"' in (project / "internal" / "app" / "app.go").read_text()
