"""CLI tests for `gosmith new`, `--version` and `--help` through typer's CliRunner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gosmith import __version__
from gosmith.cli import app

runner = CliRunner()


def invoke(*args: str):
    """Run the app with standalone handling so exit codes match the console script."""
    return runner.invoke(app, list(args), catch_exceptions=False)


def answers_of(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_new_defaults(tmp_path: Path) -> None:
    out = tmp_path / "svc"
    result = invoke("new", "svc", "--defaults", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "cmd" / "svc" / "main.go").is_file()
    recorded = answers_of(out)
    assert recorded["service_name"] == "svc"
    assert recorded["module_path"] == "example.com/svc"
    assert recorded["http_port"] == 8080


def test_new_default_output_is_name_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("new", "here-svc", "--defaults")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "here-svc" / "go.mod").is_file()


def test_new_data_and_module(tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = invoke(
        "new", "orders", "--defaults", "-o", str(out), "--module", "github.com/acme/orders",
        "--data", "http_port=8181", "-d", "admin_port=9191", "-d", "description=Orders service",
    )
    assert result.exit_code == 0, result.output
    recorded = answers_of(out)
    assert recorded["module_path"] == "github.com/acme/orders"
    assert recorded["http_port"] == 8181
    assert recorded["admin_port"] == 9191
    assert recorded["description"] == "Orders service"
    assert "module github.com/acme/orders" in (out / "go.mod").read_text()
    assert ":8181" in (out / "internal" / "config" / "config.go").read_text()


def test_new_answers_file(tmp_path: Path) -> None:
    af = tmp_path / "answers.yml"
    af.write_text("owner: '@acme/payments'\nhttp_port: 8282\n_commit: ignored\n")
    out = tmp_path / "p"
    result = invoke("new", "pay", "--defaults", "-o", str(out), "--answers-file", str(af))
    assert result.exit_code == 0, result.output
    recorded = answers_of(out)
    assert recorded["owner"] == "@acme/payments"
    assert recorded["http_port"] == 8282


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["new", "Bad_Name", "--defaults"], "service_name"),
        (["new", "9lives", "--defaults"], "service_name"),
        (["new", "trailing-", "--defaults"], "service_name"),
        (["new", "ok", "--defaults", "--module", "bad module"], "module_path"),
        (["new", "ok", "--defaults", "--module", "/abs/path"], "module_path"),
        (["new", "ok", "--defaults", "-d", "http_port=80"], "http_port"),
        (["new", "ok", "--defaults", "-d", "http_port=eighty"], "http_port"),
        (["new", "ok", "--defaults", "-d", "admin_port=70000"], "admin_port"),
        (["new", "ok", "--defaults", "-d", "admin_port=8080"], "admin_port"),
        (["new", "ok", "--defaults", "-d", "nonsense=1"], "nonsense"),
        (["new", "ok", "--defaults", "-d", "novalue"], "key=value"),
        (["new", "ok", "--defaults", "-d", "hot_reload=maybe"], "hot_reload"),
        (["new", "ok", "--defaults", "-d", "b3_propagation=2"], "b3_propagation"),
        (["new", "ok", "--defaults", "-d", "network_policy=sometimes"], "network_policy"),
        (["new", "ok", "--defaults", "-d", "service_monitor=perhaps"], "service_monitor"),
    ],
)
def test_bad_input_exit_2_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], field: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(*args, "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    assert field in lines[0]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("field", ["description", "owner", "module_path"])
def test_answers_file_list_for_a_text_question_names_the_field(tmp_path: Path, field: str) -> None:
    af = tmp_path / "a.yml"
    af.write_text(f"{field}: [1, 2]\n")
    result = invoke("new", "ok", "--defaults", "-o", str(tmp_path / "out"), "--answers-file", str(af))
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and field in lines[0], result.output
    assert not (tmp_path / "out").exists()


def test_answers_file_list_for_a_multiselect_question_is_accepted(tmp_path: Path) -> None:
    af = tmp_path / "a.yml"
    af.write_text("platforms: [linux/amd64, linux/s390x]\n")
    out = tmp_path / "out"
    result = invoke("new", "ok", "--defaults", "-o", str(out), "--answers-file", str(af))
    assert result.exit_code == 0, result.output
    assert answers_of(out)["platforms"] == ["linux/amd64", "linux/s390x"]


def test_bad_answers_file(tmp_path: Path) -> None:
    af = tmp_path / "a.yml"
    af.write_text("- not\n- a mapping\n")
    result = invoke("new", "ok", "--defaults", "-o", str(tmp_path / "out"), "--answers-file", str(af))
    assert result.exit_code == 2
    assert "mapping" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
def test_output_below_a_file_is_refused(tmp_path: Path, below: str) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    result = invoke("new", "ok", "--defaults", "-o", str(blocker / below))
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "not a directory" in lines[0], result.output
    assert sorted(os.listdir(tmp_path)) == ["afile"]
    assert blocker.read_text() == "mine"


def test_existing_nonempty_dir_refused_unless_force(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke("new", "busy", "--defaults", "-o", str(out))
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert sorted(os.listdir(out)) == ["keep.txt"]
    result = invoke("new", "busy", "--defaults", "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert (out / "keep.txt").read_text() == "mine"
    assert (out / "go.mod").is_file()


def test_existing_empty_dir_is_used(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = invoke("new", "empty", "--defaults", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "go.mod").is_file()


def test_pretend_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "p"
    result = invoke("new", "p", "--defaults", "-o", str(out), "--pretend")
    assert result.exit_code == 0, result.output
    assert not out.exists()


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"gosmith {__version__}"


def test_help_explains_new() -> None:
    result = invoke("new", "--help")
    assert result.exit_code == 0
    for option in ("--module", "--output", "--defaults", "--data", "--answers-file", "--pretend", "--force"):
        assert option in result.output
    top = invoke("--help")
    assert top.exit_code == 0 and "new" in top.output


@pytest.mark.parametrize("args", [
    ["new", "--help"], ["new"], ["new", "svc", "--bogus"], ["update", "--help"], ["tune", "--json", "--replicas", "2"],
    ["doctor", "--help"], ["check", "--help"], ["--help"], ["--version"], ["bogus"], [],
])
def test_the_console_entry_builds_only_the_invoked_command_and_behaves_the_same(args: list[str]) -> None:
    """`main()` hands typer the invoked command alone (the others are not built): same output, same exit code."""
    from gosmith.cli import invoked_only

    lean = invoked_only(args[:1])
    if args and args[0] in ("new", "update", "check", "tune", "doctor"):
        assert [info.name for info in lean.registered_commands] == [args[0]]
    else:
        assert lean is app
    assert len(app.registered_commands) == 5  # the app itself is left as it was
    whole, alone = runner.invoke(app, args), runner.invoke(lean, args)
    assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output)
