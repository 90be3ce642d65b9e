"""The generated .golangci.yml: a deliberate v2 config, and the generated code passes it with zero findings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from gen import ANSWER_SETS, ROOT, Rendered, copy_project, go_env, run

CONFIG = ROOT / "template" / ".golangci.yml"
GOLANGCI_LINT = ROOT / ".tools" / "bin" / "golangci-lint"

#: Linters the issue requires (revive for style; contextcheck and noctx for context plumbing).
REQUIRED_LINTERS = {
    "errcheck",
    "govet",
    "staticcheck",
    "revive",
    "gosec",
    "bodyclose",
    "contextcheck",
    "noctx",
    "errorlint",
}


def golangci_lint() -> Path:
    """Return the golangci-lint binary that scripts/tools.sh builds (same version as the generated CI)."""
    if not GOLANGCI_LINT.exists():
        pytest.fail("golangci-lint missing: run scripts/tools.sh (it builds .tools/bin/golangci-lint)")
    return GOLANGCI_LINT


def test_config_is_v2_with_the_required_linters_and_formatters() -> None:
    cfg = yaml.safe_load(CONFIG.read_text())
    assert cfg["version"] == "2"
    assert cfg["linters"]["default"] == "none", "the set must be explicit, not golangci-lint's moving default"
    enabled = set(cfg["linters"]["enable"])
    assert enabled >= REQUIRED_LINTERS, f"missing: {sorted(REQUIRED_LINTERS - enabled)}"
    assert {"gofmt", "goimports"} <= set(cfg["formatters"]["enable"])


def test_every_linter_and_formatter_is_explained() -> None:
    """Each enabled linter or formatter has a comment line right above it saying why."""
    lines = CONFIG.read_text().splitlines()
    cfg = yaml.safe_load(CONFIG.read_text())
    names = [*cfg["linters"]["enable"], *cfg["formatters"]["enable"]]
    for name in names:
        idx = next(i for i, ln in enumerate(lines) if re.fullmatch(rf"\s*- {re.escape(name)}", ln))
        comment = lines[idx - 1].strip()
        assert comment.startswith("#") and len(comment) > 15, f"{name} has no one-line reason above it"


def test_config_validates_against_golangci_lint_schema(tmp_path: Path) -> None:
    """`golangci-lint config verify` checks the file against the JSON schema of the pinned version."""
    (tmp_path / ".golangci.yml").write_text(CONFIG.read_text())
    run([str(golangci_lint()), "config", "verify", "--config", str(tmp_path / ".golangci.yml")], tmp_path)
    (tmp_path / ".golangci.yml").write_text(CONFIG.read_text().replace("default: none", "default: nothing"))
    with pytest.raises(AssertionError, match="default"):
        run([str(golangci_lint()), "config", "verify", "--config", str(tmp_path / ".golangci.yml")], tmp_path)


#: The suite's answer sets plus one that switches on every optional Go file.
LINT_SETS = {
    **ANSWER_SETS,
    "features": {"service_name": "feat-svc", "hot_reload": True, "b3_propagation": True, "otlp_protocol": "http"},
    "go127": {"service_name": "next-go", "go_version": "1.27"},
}


@pytest.fixture(scope="module", params=sorted(LINT_SETS))
def lint_set(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def project(lint_set: str, rendered: Rendered) -> Path:
    """The set's project, rendered once per run (the ANSWER_SETS ones shared with the other modules)."""
    return rendered(lint_set if lint_set in ANSWER_SETS else f"lint-{lint_set}", LINT_SETS[lint_set])


@pytest.mark.slow
def test_generated_project_has_zero_findings(project: Path) -> None:
    assert (project / ".golangci.yml").read_text() == CONFIG.read_text()
    out = run(
        [str(golangci_lint()), "run", "--allow-serial-runners", "--max-issues-per-linter=0", "./..."],
        project,
        env=go_env(project),
        timeout=1200,
    )
    assert "0 issues" in out
    # Files behind the pprof build tag are linted too.
    cmd = [str(golangci_lint()), "run", "--allow-serial-runners", "--build-tags=pprof", "./..."]
    assert "0 issues" in run(cmd, project, env=go_env(project), timeout=1200)


@pytest.mark.slow
def test_config_reports_the_bugs_it_is_there_for(project: Path, tmp_path: Path) -> None:
    """A file with an unchecked error, a context-less request and `==` on errors fails the lint."""
    project = copy_project(project, tmp_path / project.name)  # the probe is a file of the project
    bad = project / "internal" / "lintprobe" / "probe.go"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "// Package lintprobe holds deliberate bugs for the linter test.\n"
        "package lintprobe\n\n"
        'import (\n\t"io"\n\t"net/http"\n\t"os"\n)\n\n'
        "// Probe has one bug per line.\n"
        "func Probe(err error) (*http.Request, bool) {\n"
        '\tos.Chmod("x", 0o600)\n'
        '\treq, _ := http.NewRequest(http.MethodGet, "http://example.com", nil)\n'
        "\tresp, _ := http.DefaultClient.Do(req)\n"
        "\t_ = resp\n"
        "\treturn req, err == io.EOF\n"
        "}\n"
    )
    with pytest.raises(AssertionError) as failed:
        run(
            [
                str(golangci_lint()),
                "run",
                "--allow-serial-runners",
                "--uniq-by-line=false",
                "./internal/lintprobe/...",
            ],
            project,
            env=go_env(project),
        )
    report = str(failed.value)
    for linter in ("errcheck", "noctx", "errorlint", "bodyclose"):
        assert f"({linter})" in report, f"{linter} did not report its bug:\n{report}"
