"""`gosmith tune`, `gosmith new`, `gosmith update` and copier's own validators refuse exactly the same answers.

All of them go through one validate-then-derive function (gosmith.answers.evaluate over
hooks/validate.evaluate); these tests run each command over the same bad and good answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
from typer.testing import CliRunner

from gosmith import answers as answers_mod
from gosmith.cli import app
from gosmith.template import questions, rules

runner = CliRunner()

#: (name, --data pairs, a fragment of the one-line error every command prints)
BAD: list[tuple[str, list[str], str]] = [
    ("kube banana", ["kubernetes_version=banana"], "kubernetes_version must look like 1.30, got 'banana'"),
    ("kube too old", ["kubernetes_version=1.24"], "kubernetes_version must be 1.25 to 1.37"),
    ("kube too new", ["kubernetes_version=1.38"], "kubernetes_version must be 1.25 to 1.37"),
    ("go 1.20", ["go_version=1.20"], "go_version must be 1.26 to 1.27"),
    ("go 1.28", ["go_version=1.28"], "go_version must be 1.26 to 1.27"),
    ("go prefix", ["go_version=go1.26"], "must look like 1.26"),
    ("port 80", ["http_port=80"], "http_port must be 1024-65535 (non-root containers cannot bind below 1024), got 80"),
    ("port huge", ["admin_port=70000"], "admin_port must be 1024-65535"),
    ("port text", ["http_port=http"], "http_port must be an integer"),
    ("ports clash", ["admin_port=8080"], "admin_port must differ from http_port"),
    ("ratio", ["gomemlimit_ratio=0.99"], "gomemlimit_ratio must be 0.5-0.95"),
    ("policy", ["gomaxprocs_policy=auto"], "gomaxprocs_policy must be one of floor, ceil, go"),
    ("cpu syntax", ["cpu_limit=1.5.5"], "cpu_limit '1.5.5' is not a Kubernetes quantity"),
    ("request above limit", ["cpu_request=2", "cpu_limit=1"], "above cpu_limit"),
    ("memory too small", ["memory_limit=48Mi", "memory_request=48Mi"], "is too small"),
    ("grace too short", ["termination_grace_period_seconds=10"], "must be at least 32"),
    ("prestop on 1.28", ["drain_mode=prestop", "kubernetes_version=1.28"], "1.30 or later"),
    ("hpa bounds", ["hpa_min_replicas=4", "hpa_max_replicas=3"], "hpa_max_replicas must be at least"),
    ("hpa no request", ["hpa_enabled=true", "cpu_request="], "hpa_enabled needs cpu_request"),
    ("platform", ["platforms=linux/mips"], "linux/mips"),
    ("ingress ns", ["ingress_namespaces=edge,Bad_NS"], "Bad_NS"),
    ("monitoring ns", ["monitoring_namespace=-x"], "monitoring_namespace"),
    ("otlp", ["otlp_protocol=quic"], "otlp_protocol must be one of grpc, http"),
    ("yes/no", ["hot_reload=maybe"], "hot_reload must be true or false"),
    ("license", ["license=GPL"], "license must be one of"),
    ("registry", ["container_registry=GHCR.io/x"], "container_registry"),
    ("unknown", ["cpu_limt=1"], "cpu_limt"),
]

#: Answer sets every command accepts; the second one triggers warnings.
GOOD: list[list[str]] = [
    [],
    ["memory_limit=", "cpu_limit=500m", "gomaxprocs_policy=go", "hpa_enabled=true", "hpa_min_replicas=1"],
]


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def data_args(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("-d", pair)]


def copier_rejects(pairs: list[str]) -> list[str]:
    """Return what copier's validators (copier.yml, evaluated in question order) say about these answers."""
    given: dict[str, Any] = answers_mod.parse_data(pairs)
    if "platforms" in given:  # copier gets a list for a multiselect question
        given["platforms"] = given["platforms"].split(",")
    if set(given) - set(questions()):
        return ["unknown answer"]  # copier has no question to validate: `new` refuses it before copier runs
    full = answers_mod.resolve({"service_name": "parity", **given})
    env = jinja2.Environment()
    env.filters["gosmith_check"] = lambda value, field, **others: rules().settings.check(field, value, **others)
    out = []
    for spec in questions().values():
        if isinstance(spec, dict) and spec.get("validator") and (
            msg := env.from_string(spec["validator"]).render(**full).strip()
        ):
            out.append(msg)
    if not out:
        try:
            rules().validate.evaluate(full)  # the context hook copier runs before rendering
        except rules().tuning.TuningError as exc:
            out.append(str(exc))
    return out


@pytest.mark.parametrize(("case", "pairs", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_every_command_refuses_the_same_answers(tmp_path: Path, case: str, pairs: list[str], fragment: str) -> None:
    code, out, tune_err = run("tune", *data_args(pairs))
    assert code == 2 and out == "", case
    assert tune_err.startswith("error: ") and tune_err.count("\n") == 1 and fragment in tune_err, tune_err
    dst = tmp_path / "out"
    code, _, new_err = run("new", "parity", "--defaults", "-o", str(dst), *data_args(pairs))
    assert code == 2, (case, new_err)
    assert not dst.exists()
    assert new_err.splitlines()[-1] == tune_err.strip(), "new and tune print different errors"
    rejected = copier_rejects(pairs)
    assert rejected, f"copier's validators accept {pairs}"
    if case == "platform":  # the CLI parses list answers first (gosmith.answers.normalize_lists), with its wording
        assert fragment in rejected[0]
    elif case != "unknown":
        assert rejected[0] in tune_err, (rejected, tune_err)


@pytest.mark.parametrize("pairs", GOOD, ids=["defaults", "warnings"])
def test_every_command_accepts_the_same_answers_and_warns_alike(tmp_path: Path, pairs: list[str]) -> None:
    code, out, err = run("tune", "--json", *data_args(pairs))
    assert code == 0, err
    warnings = json.loads(out)["warnings"]
    assert not copier_rejects(pairs)
    code, _, err = run("new", "parity", "--defaults", "--pretend", "-o", str(tmp_path / "out"), *data_args(pairs))
    assert code == 0, err
    printed = [line.removeprefix("warning: ") for line in err.splitlines() if line.startswith("warning: ")]
    assert printed == warnings
    if pairs:
        assert len(warnings) >= 3  # memory limit empty, policy go throttles, single replica at minimum


def test_update_prints_the_same_warnings(tmp_path: Path, git_identity: None) -> None:
    """`gosmith update --data` validates once (copier's hook, recorded answers merged) and prints tune's warnings."""
    import subprocess

    project = tmp_path / "svc"
    code, _, err = run("new", "parity", "--defaults", "-o", str(project), "-d", "memory_limit=256Mi")
    assert code == 0, err
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "generated"]):
        subprocess.run(["git", *cmd], cwd=project, check=True, capture_output=True)
    code, out, tune_err = run("tune", "--json", "--answers-file", str(project / ".copier-answers.yml"),
                              "-d", "memory_limit=")
    assert code == 0, tune_err
    expected = json.loads(out)["warnings"]
    code, _, err = run("update", str(project), "-d", "memory_limit=")
    assert code == 0, err
    printed = [ln.removeprefix("warning: ") for ln in err.splitlines() if ln.startswith("warning: ")]
    assert expected and printed == expected
    subprocess.run(["git", "commit", "-qam", "updated"], cwd=project, check=True, capture_output=True)
    code, _, err = run("update", str(project), "-d", "memory_limit=48Mi", "-d", "memory_request=48Mi")
    assert code == 2 and err.splitlines()[-1].startswith("error: --data: ") and "is too small" in err, err
