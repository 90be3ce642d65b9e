"""Contract of the one module that touches copier internals (src/gosmith/copier_adapter.py).

gosmith uses copier's public API (`run_copy`, `run_update`) for everything it writes. Three speed and
prompt-width adjustments patch internals; these tests fail loudly on a copier release that moves
them (then pin or adapt), and check the adjustments still change only what they claim.
"""

from __future__ import annotations

import io
import re
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import copier
import pytest
from gen import ROOT
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gosmith import copier_adapter


def test_only_the_adapter_reaches_into_copier_internals() -> None:
    """`copier._<private>` appears in src/ and hooks/ only inside copier_adapter.py."""
    out = subprocess.run(["grep", "-rnE", r"copier\._|from copier\._", "src", "hooks"], cwd=ROOT,
                         capture_output=True, text=True).stdout
    offenders = [line for line in out.splitlines() if not line.startswith("src/gosmith/copier_adapter.py:")]
    assert offenders == []


def test_copier_is_pinned_to_the_tested_minor() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d.removeprefix("copier") for d in deps if re.match(r"copier[<>=!~ ]", d)]
    installed = Version(version("copier"))
    assert installed in SpecifierSet(spec)
    upper = [s for s in SpecifierSet(spec) if s.operator == "<"]
    assert upper and Version(upper[0].version) <= Version(f"{installed.major}.{installed.minor + 1}")
    floor = Version(re.search(r'_min_copier_version: "([^"]+)"', (ROOT / "copier.yml").read_text()).group(1))
    assert floor.release[:2] == installed.release[:2]  # copier.yml asks for the version that was tested


def test_prompt_function_is_where_the_adapter_patches_it() -> None:
    import inspect

    import copier._main as copier_main

    assert callable(copier_main.unsafe_prompt)
    assert "unsafe_prompt(" in inspect.getsource(copier_main.Worker)  # the Worker calls it through the module
    with copier_adapter.readable_prompts():
        assert copier_main.unsafe_prompt is not copier.__dict__.get("unsafe_prompt")
        patched = copier_main.unsafe_prompt
    assert copier_main.unsafe_prompt is not patched  # restored


def test_git_index_sync_is_a_worker_method_and_restored() -> None:
    import copier._main as copier_main

    original = copier_main.Worker._sync_git_index_executable_bit
    with copier_adapter.no_git_index_sync():
        assert copier_main.Worker._sync_git_index_executable_bit is not original
    assert copier_main.Worker._sync_git_index_executable_bit is original


def test_adjusted_render_equals_plain_copier(tmp_path: Path) -> None:
    """The same template rendered with and without the adjustments gives identical files."""
    from gosmith.materialise import materialise
    from gosmith.versions import tag

    built = materialise()
    data = {"service_name": "adapter-svc"}
    kwargs = dict(data=data, defaults=True, unsafe=True, quiet=True, vcs_ref=tag(built.current))
    copier.run_copy(str(built.repo), str(tmp_path / "plain"), **kwargs)
    with copier_adapter.no_git_index_sync(), copier_adapter.reuse_compiled_strings(), \
            copier_adapter.reuse_render_answers(), copier_adapter.libyaml_config(), copier_adapter.no_bundle_probe():
        copier.run_copy(str(built.repo), str(tmp_path / "adjusted"), **kwargs)

    def files(root: Path) -> dict[str, tuple[bytes, bool]]:
        return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o111 != 0)
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(tmp_path / "plain") == files(tmp_path / "adjusted")


def test_literal_strings_render_as_jinja_would() -> None:
    """Strings the adapter does not compile render exactly as Jinja renders them, in both newline modes."""
    import jinja2

    samples = ["internal", "handler.go", "a\n", "x { y }", "{{ name }}", "{% if x %}a{% endif %}", "{# c #}b",
               "tail\n\n", "", "100%", "{y"]
    for keep in (True, False):
        env = jinja2.Environment(keep_trailing_newline=keep)
        for source in samples:
            with copier_adapter.reuse_compiled_strings():
                adjusted = env.from_string(source).render(name="n", x=True)
            assert adjusted == env.from_string(source).render(name="n", x=True), (keep, source)
    env = jinja2.Environment(line_statement_prefix="#")
    with copier_adapter.reuse_compiled_strings():
        assert env.from_string("# if true\nyes\n# endif\n").render() == "yes\n"


def test_jinja_bytecode_cache_changes_nothing_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gosmith new fills <cache>/jinja (read by hooks/extension.py); a cached render equals an uncached one."""
    from gosmith import recorded
    from gosmith.generate import NewRequest, new

    assert f'BYTECODE_CACHE_ENV = "{recorded.JINJA_CACHE_ENV}"' in (ROOT / "hooks" / "extension.py").read_text()
    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "cache"))
    first = new(NewRequest(name="cache-svc", output=tmp_path / "a"))
    entries = sorted((tmp_path / "cache" / "jinja").iterdir())
    assert entries  # compiled templates were stored
    second = new(NewRequest(name="cache-svc", output=tmp_path / "b"))  # renders from the cache
    assert sorted((tmp_path / "cache" / "jinja").iterdir()) == entries

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(first) == files(second)
    assert recorded.JINJA_CACHE_ENV not in __import__("os").environ  # only set while copier runs


def test_progress_styles_and_template_version_are_where_the_adapter_patches_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import copier._template as copier_template
    import copier._tools as copier_tools

    styles = {n: getattr(copier_tools.Style, n) for n in ("OK", "WARNING", "IGNORE", "DANGER", "RESET")}
    assert all(isinstance(v, list) and v and all(s.startswith("\x1b[") for s in v) for v in styles.values())
    assert "version" in copier_template.Template.__dict__
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    with copier_adapter.plain_progress(Version("1.2.3")):
        assert all(getattr(copier_tools.Style, n) == [""] for n in styles)
        assert copier_template.Template.version.fget(None) == Version("1.2.3")  # type: ignore[attr-defined]
    assert {n: getattr(copier_tools.Style, n) for n in styles} == styles  # restored
    assert "version" in copier_template.Template.__dict__
    assert not isinstance(copier_template.Template.__dict__["version"], property)


def test_render_answers_are_where_the_adapter_reuses_them_and_restored() -> None:
    import copier._main as copier_main
    import copier._types as copier_types
    import copier._user_data as copier_user_data

    remember = copier_main.Worker._answers_to_remember
    combined = copier_user_data.AnswersMap.__dict__["combined"]
    assert isinstance(combined, property) and callable(remember)
    assert copier_types.Phase.RENDER and callable(copier_types.Phase.current)
    answers = copier_user_data.AnswersMap(user={"a": 1})
    with copier_adapter.reuse_render_answers():
        assert copier_main.Worker._answers_to_remember is not remember
        assert answers.combined["a"] == 1
        answers.user["a"] = 2
        assert answers.combined["a"] == 2  # outside the render phase: computed each time
        with copier_types.Phase.use(copier_types.Phase.RENDER):
            first = answers.combined
            answers.user["a"] = 3
            assert answers.combined is first and first["a"] == 2  # in it: once
    assert copier_main.Worker._answers_to_remember is remember
    assert copier_user_data.AnswersMap.__dict__["combined"] is combined


def test_copier_yml_loads_the_same_with_libyaml() -> None:
    """copier's own loader function reads copier.yml (and its includes) to the same data with libyaml."""
    import copier._template as copier_template
    import yaml

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml: the adapter changes nothing")
    assert copier_template.yaml is yaml and "yaml.SafeLoader" in __import__("inspect").getsource(
        copier_template.load_template_config)
    plain = copier_template.load_template_config(ROOT / "copier.yml")
    with copier_adapter.libyaml_config():
        assert copier_template.yaml.SafeLoader is yaml.CSafeLoader
        fast = copier_template.load_template_config(ROOT / "copier.yml")
    assert copier_template.yaml is yaml  # restored
    assert fast == plain and fast
    from gosmith.template import config

    assert config(ROOT) == yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))  # gosmith's own read


def test_bundle_probe_is_where_the_adapter_skips_it_for_directories(tmp_path: Path) -> None:
    """A directory is never a git bundle: answered without git; a file is still probed by copier."""
    import copier._vcs as copier_vcs

    original = copier_vcs.is_git_bundle
    assert "bundle" in __import__("inspect").getsource(copier_vcs.get_repo)
    assert original(tmp_path) is False  # what copier itself says for a directory, after running git
    (tmp_path / "not.bundle").write_text("x")
    with copier_adapter.no_bundle_probe():
        assert copier_vcs.is_git_bundle is not original
        assert copier_vcs.is_git_bundle(tmp_path) is False
        assert copier_vcs.is_git_bundle(tmp_path / "not.bundle") is False  # probed by copier: not a bundle
    assert copier_vcs.is_git_bundle is original


def test_strings_compiled_from_the_bytecode_cache_render_the_same(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A second `gosmith new` reads the compiled strings from the cache the first one wrote: the same files."""
    from gosmith.generate import NewRequest, new

    monkeypatch.setenv("GOSMITH_CACHE_DIR", str(tmp_path / "cache"))
    first = new(NewRequest(name="cache-svc", output=tmp_path / "first", data={"hot_reload": True}))
    cached = sorted((tmp_path / "cache" / "jinja").iterdir())
    strings = [p for p in cached if p.stat().st_size < 4096]  # a few hundred bytes each: defaults, path parts
    assert len(strings) > 20, "the strings' compiled code was not written to the bytecode cache"
    second = new(NewRequest(name="cache-svc", output=tmp_path / "second", data={"hot_reload": True}))
    assert sorted((tmp_path / "cache" / "jinja").iterdir()) == cached  # nothing compiled again

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(first) == files(second)
