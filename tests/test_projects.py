"""gosmith.projects is the one renderer and answer-set registry of tests, scripts and benchmarks."""

from __future__ import annotations

import re

import gen
import pytest

from gosmith import projects

#: A sys.path change that reaches into tests/ or scripts/ from elsewhere (what gosmith.projects replaces).
_PATH_HACK = re.compile(r"sys\.path\.(?:insert|append)\(.*[\"'](?:tests|scripts)[\"']")


@pytest.mark.parametrize("script", ["go_deps", "controller_gen"])
def test_scripts_render_with_the_shared_renderer(script: str) -> None:
    module = gen.load_module(gen.ROOT / "scripts" / f"{script}.py", f"{script}_under_test")
    assert module.render is projects.render


def test_tests_use_the_shared_sets_and_renderer() -> None:
    assert gen.render is projects.render
    assert gen.PROJECTS is projects.PROJECTS and gen.ANSWER_SETS is projects.ANSWER_SETS
    assert all(gen.PROJECTS[name] == answers for name, answers in projects.ANSWER_SETS.items())


def test_the_controller_golden_render_is_the_controller_tests_project() -> None:
    assert projects.GOLDEN_SETS["controller"] is projects.CONTROLLER is gen.CONTROLLER
    assert projects.CONTROLLER["kubernetes_client"] == "controller"


def test_no_script_or_test_reaches_into_the_other_through_sys_path() -> None:
    offenders = [
        f"{path.relative_to(gen.ROOT)}:{number}"
        for folder in ("scripts", "tests")
        for path in sorted((gen.ROOT / folder).glob("*.py"))
        if path.name != "test_projects.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _PATH_HACK.search(line)
    ]
    assert not offenders, f"import gosmith.projects instead of putting tests/ or scripts/ on sys.path: {offenders}"
