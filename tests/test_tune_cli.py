"""`gosmith tune`: the table, --json, answers files and one-line errors (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gosmith.cli import app
from gosmith.template import questions, rules

runner = CliRunner()
tuning = rules().tuning


def tune(*args: str) -> tuple[int, str, str]:
    """Run `gosmith tune ARGS`; return (exit code, stdout, stderr)."""
    result = runner.invoke(app, ["tune", *args])
    return result.exit_code, result.stdout, result.stderr


def test_table_shows_value_formula_and_why() -> None:
    code, out, err = tune("--cpu-limit", "500m", "--memory-limit", "512Mi", "--memory-request", "512Mi")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["SETTING", "VALUE", "FORMULA", "/", "WHY"]
    row = next(line for line in lines if line.startswith("gomaxprocs "))
    assert row.split()[1] == "1"
    assert "1 = max(1, floor(limits.cpu 500m))" in row
    row = next(line for line in lines if line.startswith("gomemlimit "))
    assert row.split()[1] == "460MiB"
    assert "460MiB = 0.9 x limits.memory 512Mi" in row
    assert any(line.strip().startswith("why: ") for line in lines)
    for key in tuning.derive({}).reasons:
        assert any(line.startswith(key + " ") for line in lines), key
    assert "Warnings: none" in out


def test_table_lists_warnings() -> None:
    code, out, _ = tune("--memory-limit", "", "--gomaxprocs-policy", "go", "--cpu-limit", "500m")
    assert code == 0
    warnings = out.split("Warnings:", 1)[1]
    assert "GOMEMLIMIT stays unset" in warnings
    assert "throttles under load" in warnings


def test_go_version_is_held_to_the_generator_range() -> None:
    """`tune` refuses the Go versions `gosmith new` refuses (too old, too new, malformed), with the same message."""
    for version, message in (
        ("1.24", "go_version must be 1.26 to 1.27"),
        ("1.20", "go_version must be 1.26 to 1.27"),
        ("go1.24", "must look like 1.26"),
    ):
        code, out, err = tune("--go-version", version)
        assert code == 2, version
        assert out == "" and message in err, (version, err)
    code, out, _ = tune("--go-version", "1.27", "--cpu-limit", "2500m", "--json")
    assert code == 0
    assert json.loads(out)["values"]["gomaxprocs"] == 2


def test_data_option_takes_any_answer() -> None:
    """`tune -d key=value` works like `gosmith new -d`: named options still win over it."""
    code, out, err = tune("--json", "-d", "cpu_limit=500m", "-d", "drain_mode=prestop", "--cpu-limit", "3")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["inputs"]["cpu_limit"] == "3" and doc["values"]["prestop_sleep_seconds"] == 5
    code, _, err = tune("-d", "kubernetes_version=1.28", "-d", "drain_mode=prestop")
    assert code == 2 and "kubernetes_version must be 1.30 or later for drain_mode prestop" in err
    code, _, err = tune("-d", "cpu_limit")
    assert code == 2 and "expected key=value" in err


def test_json_equals_derive() -> None:
    code, out, err = tune("--json", "--cpu-limit", "2500m", "--drain-mode", "prestop", "--slowest-request-seconds", "2")
    assert code == 0, err
    doc = json.loads(out)
    kube = questions()["kubernetes_version"]["default"]  # the CLI fills every default, as `gosmith new` does
    expected = tuning.derive(
        {"cpu_limit": "2500m", "drain_mode": "prestop", "slowest_request_seconds": 2.0, "kubernetes_version": kube}
    )
    assert doc["values"] == json.loads(json.dumps(expected.values))
    assert doc["reasons"] == expected.reasons
    assert doc["warnings"] == expected.warnings
    assert doc["values"]["gomaxprocs"] == 2
    assert doc["values"]["prestop_sleep_seconds"] == 5
    assert doc["inputs"]["cpu_limit"] == "2500m"


def test_hpa_flag() -> None:
    code, out, _ = tune("--json", "--hpa", "--hpa-min-replicas", "3", "--hpa-max-replicas", "6")
    assert code == 0
    hpa = json.loads(out)["values"]["hpa"]
    assert hpa == {"enabled": True, "minReplicas": 3, "maxReplicas": 6, "targetCPUUtilizationPercentage": 80}


def test_answers_file_with_overrides(tmp_path: Path) -> None:
    answers = tmp_path / ".copier-answers.yml"
    answers.write_text(
        yaml.safe_dump(
            {
                "_commit": "abc1234",
                "_src_path": "gh:acme/gosmith",
                "service_name": "orders",
                "memory_limit": "1Gi",
                "memory_request": "1Gi",
                "cpu_limit": "1500m",
                "proxy_idle_timeout_seconds": 600,
            }
        )
    )
    code, out, err = tune("--answers-file", str(answers), "--json", "--cpu-limit", "3")
    assert code == 0, err
    values = json.loads(out)["values"]
    assert values["gomemlimit"] == "921MiB"
    assert values["durations"]["idle_timeout"] == "605s"
    assert values["gomaxprocs"] == 0  # the option overrides the file: floor(3) == Go's choice


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cpu-limit", "1.5.5"], "cpu_limit '1.5.5' is not a Kubernetes quantity"),
        (["--memory-limit", "48Mi", "--memory-request", "48Mi"], "memory_limit 48Mi (49152Ki) is too small"),
        (["--termination-grace-period-seconds", "10"], "must be at least 32"),
        (["--gomaxprocs-policy", "auto"], "gomaxprocs_policy must be one of floor, ceil, go"),
        (["--hpa", "--cpu-request", ""], "hpa_enabled needs cpu_request"),
    ],
)
def test_invalid_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    code, out, err = tune(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err


def test_missing_answers_file_is_exit_2(tmp_path: Path) -> None:
    code, _, err = tune("--answers-file", str(tmp_path / "nope.yml"))
    assert code == 2
    assert "nope.yml" in err and err.count("\n") == 1


def test_unknown_answer_in_file_is_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "a.yml"
    f.write_text("cpu_limt: 500m\n")
    code, _, err = tune("--answers-file", str(f))
    assert code == 2
    assert "unknown answer 'cpu_limt'" in err


def test_docs_example_is_the_real_output() -> None:
    """docs/tuning.md shows the table `gosmith tune` prints for its example answers, unedited."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "tuning.md").read_text()
    block = doc.split("<!-- tune-example:start -->", 1)[1].split("<!-- tune-example:end -->", 1)[0]
    shown = block.strip().removeprefix("```text").removesuffix("```").strip("\n")
    code, out, _ = tune(
        "--cpu-request", "250m", "--cpu-limit", "500m", "--memory-request", "512Mi", "--memory-limit", "512Mi"
    )
    assert code == 0
    assert shown == out.rstrip("\n")
