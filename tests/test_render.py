"""Render tests with pytest-copie over several answer sets (no Go toolchain needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from gen import ANSWER_SETS, ROOT, render

EXTRA = {
    "long-name": {"service_name": "a" + "-b" * 30 + "c", "module_path": "gitlab.example.org/team/sub/svc"},
}


@pytest.mark.parametrize("answers", [*ANSWER_SETS.values(), *EXTRA.values()], ids=[*ANSWER_SETS, *EXTRA])
def test_render_answer_sets(copie, answers: dict) -> None:
    result = copie.copy(extra_answers=answers, template_dir=ROOT)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    project: Path = result.project_dir
    name = answers["service_name"]
    module = answers.get("module_path", f"example.com/{name}")
    go_version = answers.get("go_version", "1.26")

    gomod = (project / "go.mod").read_text()
    assert gomod.splitlines()[0] == f"module {module}"
    assert f"\ngo {go_version}" in gomod
    main = project / "cmd" / name / "main.go"
    assert main.is_file()
    assert f'"{module}/internal/' in main.read_text()
    for required in ("Makefile", "README.md", ".gitignore"):
        assert (project / required).is_file(), required
    # No template syntax or suffix leaks into the output.
    for f in project.rglob("*"):
        if f.is_file() and ".git" not in f.parts:
            assert not f.name.endswith(".jinja"), f
            assert "{{" not in f.name, f

    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["service_name"] == name
    assert recorded["module_path"] == module
    assert "_src_path" in recorded and "_commit" in recorded


def test_answers_file_records_every_question(copie) -> None:
    questions = {k for k in yaml.safe_load((ROOT / "copier.yml").read_text()) if not k.startswith("_")}
    result = copie.copy(extra_answers={"service_name": "rec"}, template_dir=ROOT)
    assert result.exception is None, result.exception
    recorded = yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text())
    missing = {q for q in questions if q not in recorded}
    # Conditional questions (`when:`) that were not asked are not recorded by copier.
    hidden = {
        q for q, spec in yaml.safe_load((ROOT / "copier.yml").read_text()).items()
        if isinstance(spec, dict) and "when" in spec
    }
    assert missing <= hidden


@pytest.mark.parametrize(
    ("answers", "fragment"),
    [
        ({"service_name": "Bad_Name"}, "DNS-1123"),
        ({"service_name": "x" * 64}, "at most 63"),
        ({"service_name": "ok", "module_path": "has space/x"}, "whitespace"),
        ({"service_name": "ok", "http_port": 80}, "must be 1024-65535"),
        ({"service_name": "ok", "admin_port": 8080}, "must differ"),
        ({"service_name": "ok", "go_version": "1.19"}, "must be 1."),
        ({"service_name": "ok", "go_version": "1.25"}, "must be 1.26 to 1.27"),
        ({"service_name": "ok", "go_version": "1.28"}, "must be 1.26 to 1.27"),
        ({"service_name": "ok", "go_version": "go1.26"}, "must look like"),
    ],
)
def test_validators_reject_through_copier_data(tmp_path: Path, answers: dict, fragment: str) -> None:
    """Validators only run for `data=` answers (pytest-copie's extra_answers bypasses them)."""
    dst = tmp_path / "out"
    from copier.errors import UserMessageError

    # a validator's ValueError, or the context hook's one-line UserMessageError (the same rule table)
    with pytest.raises((ValueError, UserMessageError), match=fragment):
        render(dst, answers)
    assert not dst.exists()
