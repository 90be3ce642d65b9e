"""A newcomer's first hour: list answers, Ctrl-C, no terminal, --force, --help (in-process, no pty)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gen import run
from typer.main import get_command
from typer.testing import CliRunner

from gosmith.cli import EXAMPLES, app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Test")
        monkeypatch.setenv(f"{key}_EMAIL", "test@example.com")


def invoke(*args: str, **kwargs):
    return runner.invoke(app, list(args), catch_exceptions=False, **kwargs)


def error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("error:")]


def answers_of(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


# ---------------------------------------------------------------- 1. list answers (platforms)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("linux/amd64", ["linux/amd64"]),
        ("linux/amd64,linux/arm64", ["linux/amd64", "linux/arm64"]),
        ("linux/amd64, linux/s390x", ["linux/amd64", "linux/s390x"]),
        ("[linux/arm64, linux/ppc64le]", ["linux/arm64", "linux/ppc64le"]),
    ],
)
def test_data_list_answer_accepts_a_comma_separated_string_or_a_yaml_list(
    tmp_path: Path, value: str, expected: list[str]
) -> None:
    out = tmp_path / "svc"
    result = invoke("new", "svc", "--defaults", "-o", str(out), "-d", f"platforms={value}")
    assert result.exit_code == 0, result.output
    assert answers_of(out)["platforms"] == expected
    assert " ".join(expected) in (out / "Makefile").read_text()


@pytest.mark.parametrize("text", ["platforms: linux/amd64,linux/s390x\n", "platforms: [linux/amd64, linux/s390x]\n"])
def test_answers_file_list_answer_as_string_or_list(tmp_path: Path, text: str) -> None:
    af = tmp_path / "a.yml"
    af.write_text(text)
    out = tmp_path / "svc"
    result = invoke("new", "svc", "--defaults", "-o", str(out), "--answers-file", str(af))
    assert result.exit_code == 0, result.output
    assert answers_of(out)["platforms"] == ["linux/amd64", "linux/s390x"]


@pytest.mark.parametrize(
    ("how", "value", "reason"),
    [
        ("data", "linux/amd65", "not one of"),
        ("data", "[linux/amd64", "not a YAML list"),
        ("data", "[1, 2]", "list"),
        ("file", "{a: 1}", "list"),
        ("file", "7", "list"),
        ("file", "[linux/amd64, windows/amd64]", "not one of"),
    ],
)
def test_bad_list_answer_is_one_line_exit_2(tmp_path: Path, how: str, value: str, reason: str) -> None:
    out = tmp_path / "svc"
    if how == "data":
        args = ["-d", f"platforms={value}"]
    else:
        (tmp_path / "a.yml").write_text(f"platforms: {value}\n")
        args = ["--answers-file", str(tmp_path / "a.yml")]
    result = invoke("new", "svc", "--defaults", "-o", str(out), *args)
    assert result.exit_code == 2, result.output
    lines = error_lines(result.output)
    assert len(lines) == 1 and "platforms" in lines[0] and reason in lines[0], result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_update_data_accepts_a_comma_separated_list(tmp_path: Path) -> None:
    project = tmp_path / "svc"
    assert invoke("new", "svc", "--defaults", "-o", str(project)).exit_code == 0
    run(["git", "init", "--quiet"], project)
    run(["git", "add", "--all"], project)
    run(["git", "commit", "--quiet", "-m", "generated"], project)
    bad = invoke("update", str(project), "-d", "platforms=linux/mips")
    assert bad.exit_code == 2 and len(error_lines(bad.output)) == 1, bad.output
    result = invoke("update", str(project), "-d", "platforms=linux/amd64,linux/s390x")
    assert result.exit_code == 0, result.output
    assert answers_of(project)["platforms"] == ["linux/amd64", "linux/s390x"]
    assert "linux/amd64 linux/s390x" in (project / "Makefile").read_text()


# ---------------------------------------------------------------------------- 2. Ctrl-C


def test_ctrl_c_during_rendering_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt after copier wrote some files: one line, exit 130, no file left anywhere."""
    import copier._main as copier_main

    real = copier_main.Worker._render_file
    rendered: list[object] = []

    def render_then_interrupt(self, *args, **kwargs):
        rendered.append(args)
        if len(rendered) == 10:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(copier_main.Worker, "_render_file", render_then_interrupt)
    parent = tmp_path / "work"
    parent.mkdir()
    result = invoke("new", "svc", "--defaults", "-o", str(parent / "deep" / "svc"))
    assert len(rendered) == 10, "the interrupt was not reached"
    assert result.exit_code == 130, result.output
    assert error_lines(result.output) == ["error: aborted, nothing written"], result.output
    assert os.listdir(parent) == []


def test_ctrl_c_with_force_keeps_the_existing_directory_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import copier._main as copier_main

    real = copier_main.Worker._render_file
    calls = []

    def render_then_interrupt(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    out = tmp_path / "busy"
    out.mkdir()
    (out / "Makefile").write_text("mine\n")
    monkeypatch.setattr(copier_main.Worker, "_render_file", render_then_interrupt)
    result = invoke("new", "busy", "--defaults", "-o", str(out), "--force")
    assert result.exit_code == 130, result.output
    assert sorted(os.listdir(tmp_path)) == ["busy"]
    assert os.listdir(out) == ["Makefile"] and (out / "Makefile").read_text() == "mine\n"


def test_ctrl_c_in_other_commands_is_one_line_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    import gosmith.check

    def interrupted(path: Path):
        raise KeyboardInterrupt

    monkeypatch.setattr(gosmith.check, "check", interrupted)
    result = invoke("check", ".")
    assert result.exit_code == 130
    assert result.output.strip() == "error: aborted, nothing written"  # the same line as every other command
    import signal

    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # an in-process caller (and its children) keeps Ctrl-C


def test_ctrl_c_during_update_is_one_line_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """The update runs copier on a clone, so an interrupted update has written nothing (see test_update)."""
    import gosmith.update

    def interrupted(req):
        raise KeyboardInterrupt

    monkeypatch.setattr(gosmith.update, "update", interrupted)
    for args in ((), ("--pretend",)):
        result = invoke("update", ".", *args)
        assert result.exit_code == 130
        assert error_lines(result.output) == ["error: aborted, nothing written"], result.output


# ------------------------------------------------------------- 4. no terminal, no --defaults


def test_no_terminal_and_no_defaults_is_exit_2_with_a_hint(tmp_path: Path) -> None:
    """The console script with stdin from /dev/null: nothing generated, one line naming both options."""
    code = "import sys; from gosmith.cli import main; sys.argv[0] = 'gosmith'; main()"
    proc = subprocess.run([sys.executable, "-c", code, "new", "svc"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "--defaults" in lines[0] and "--answers-file" in lines[0], proc.stderr
    assert os.listdir(tmp_path) == []


def test_no_terminal_with_an_answers_file_uses_defaults_for_the_rest(tmp_path: Path) -> None:
    af = tmp_path / "a.yml"
    af.write_text("http_port: 8282\n")
    out = tmp_path / "svc"
    result = invoke("new", "svc", "-o", str(out), "--answers-file", str(af))
    assert result.exit_code == 0, result.output
    assert answers_of(out)["http_port"] == 8282


# ------------------------------------------------------------------------- 7. --force, --help


def test_force_names_every_file_it_overwrote(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "Makefile").write_text("mine\n")
    (out / "notes.txt").write_text("kept\n")
    first = invoke("new", "busy", "--defaults", "-o", str(out), "--force")
    assert first.exit_code == 0, first.output
    assert "overwrote 1 existing file(s)" in first.output
    assert [ln.strip() for ln in first.output.splitlines() if ln.strip().startswith("overwrote ")] == [
        "overwrote Makefile"
    ]
    assert (out / "notes.txt").read_text() == "kept\n"
    (out / "README.md").write_text("changed\n")
    again = invoke("new", "busy", "--defaults", "-o", str(out), "--force")
    overwritten = [ln.strip() for ln in again.output.splitlines() if ln.strip().startswith("overwrote ")]
    assert overwritten == ["overwrote README.md"], again.output  # identical files are not reported


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_every_help_shows_real_examples_and_fits_80_columns(command: str) -> None:
    result = invoke(command, "--help", terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "Examples:" in result.output
    shown = [ln.strip() for ln in result.output.split("Examples:", 1)[1].splitlines() if ln.strip()]
    assert shown == EXAMPLES[command] and 1 <= len(shown) <= 2
    for line in result.output.splitlines():
        assert len(line) <= 80, f"wider than 80 columns: {line!r}"
        assert "…" not in line, f"truncated: {line!r}"
    click_cmd = get_command(app).commands[command]  # type: ignore[attr-defined]
    names = {opt for p in click_cmd.params if p.param_type_name == "option" for opt in (*p.opts, *p.secondary_opts)}
    for example in shown:
        # the gosmith part of a shell line (`kustomize build x | gosmith doctor - > out` is fine)
        part = next(seg for seg in example.split("|") if seg.strip().startswith(f"gosmith {command}"))
        words = shlex.split(part.split(">")[0])
        assert words[:2] == ["gosmith", command]
        for word in words[2:]:
            if word.startswith("-") and word != "-":
                assert word in names, f"{example}: {word} is not an option of {command}"
        ctx = click_cmd.make_context(command, words[2:])
        assert ctx.params  # the example parses


def test_every_option_name_is_whole_at_80_columns() -> None:
    """typer's rich table cut --proxy-idle-timeout-seconds to '--proxy-idle-timeout-seco…' at 80 columns."""
    for command in ("new", "update", "check", "tune"):
        text = invoke(command, "--help", terminal_width=80, env={"COLUMNS": "80"}).output
        click_cmd = get_command(app).commands[command]  # type: ignore[attr-defined]
        for param in click_cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert re.search(rf"(^|[\s,]){re.escape(opt)}([\s,=]|$)", text, re.M), f"{command}: {opt}"


# ------------------------------------------------------------------- 8. did you mean, tune defaults, help words


@pytest.mark.parametrize(
    ("data", "suggestion"),
    [
        ("memory_limt=1Gi", "did you mean memory_limit?"),
        ("drain_mode=preStop", "did you mean prestop?"),
        ("otlp_protocol=GRPC", "did you mean grpc?"),
        ("platforms=linux/amd64,linux/arm46", "did you mean linux/arm64?"),
    ],
)
def test_a_mistyped_key_or_choice_suggests_the_close_one(tmp_path: Path, data: str, suggestion: str) -> None:
    result = invoke("new", "svc", "--defaults", "-o", str(tmp_path / "svc"), "-d", data)
    assert result.exit_code == 2, result.output
    lines = error_lines(result.output)
    assert len(lines) == 1 and suggestion in lines[0], result.output
    assert not (tmp_path / "svc").exists()


def test_nothing_close_suggests_nothing(tmp_path: Path) -> None:
    result = invoke("new", "svc", "--defaults", "-o", str(tmp_path / "svc"), "-d", "drain_mode=zzz")
    assert result.exit_code == 2 and "did you mean" not in result.output, result.output


def test_tune_names_a_default_the_user_did_not_give_and_how_to_change_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tune", "--cpu-limit", "100m"])
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.stderr)
    assert "cpu_request 250m is the default" in line and "-d cpu_request=" in line, line
    # a value the user gave is not called a default
    given = runner.invoke(app, ["tune", "--cpu-limit", "100m", "--cpu-request", "200m"])
    assert given.exit_code == 2 and "is the default" not in given.stderr, given.stderr
    # gosmith new says the same
    new = runner.invoke(app, ["new", "svc", "--defaults", "-o", str(tmp_path / "svc"), "-d", "cpu_limit=100m"])
    assert new.exit_code == 2 and error_lines(new.stderr) == [line], new.stderr
    assert os.listdir(tmp_path) == []


def test_tune_json_reports_an_error_as_json() -> None:
    result = runner.invoke(app, ["tune", "--cpu-limit", "100m", "--json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 2 and doc["error"].startswith("cpu_request 250m"), result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_help_shows_words_not_python_types(command: str) -> None:
    text = invoke(command, "--help", terminal_width=80, env={"COLUMNS": "80"}).output
    assert not re.search(r"<[^>\s]*>", text), text  # <str>, <path>, <list[Path]>, <float>, ...
    for word in ("list[", "str>", "NAME <"):
        assert word not in text, text
