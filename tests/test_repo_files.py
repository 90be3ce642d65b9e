"""The generated repository's day-one files: workflows, dependency bot, LICENSE, CODEOWNERS, README.

Workflows are checked with the real actionlint (built from its Go module) and the JSON schemas that
check-jsonschema vendors; everything runs offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from gen import ANSWER_SETS, ROOT, actionlint_binary, render, run

#: Answer sets that between them cover every repository answer.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": ANSWER_SETS["defaults"],
    "renovate": {
        "service_name": "orders-api",
        "module_path": "github.com/Acme-Corp/orders-api",
        "owner": "platform-team",
        "license": "MIT",
        "dependency_bot": "renovate",
        "container_registry": "registry.example.com:5000/shop",
        "copyright_holder": "Acme Corp",
        "platforms": ["linux/amd64", "linux/arm/v7"],
        "hot_reload": True,
        "otlp_protocol": "grpc",
        "b3_propagation": True,
    },
    "bsd": {"service_name": "bsd-svc", "license": "BSD-3-Clause", "owner": "@acme/bsd"},
    "unlicensed": {"service_name": "closed-svc", "license": "none"},
}

_PINNED_USES = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$")


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Render every variant once for this module."""
    return {name: render(tmp_path_factory.mktemp(name) / "svc", answers) for name, answers in VARIANTS.items()}


def workflows(project: Path) -> list[Path]:
    """Return the workflow files of a rendered project."""
    files = sorted((project / ".github" / "workflows").glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "release.yml", "template-update.yml"]
    return files


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """Validate `files` against a schema vendored by check-jsonschema (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


# ----------------------------------------------------------------------------- workflows


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_workflows_pass_actionlint(projects: dict[str, Path], variant: str) -> None:
    project = projects[variant]
    cmd = [str(actionlint_binary()), "-no-color"]
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    cmd += ["-shellcheck", shellcheck or ""]
    proc = subprocess.run([*cmd, *map(str, workflows(project))], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_actionlint_catches_a_broken_workflow(tmp_path: Path, projects: dict[str, Path]) -> None:
    """The lint above is meaningful: an undefined job dependency in a copy of ci.yml is reported."""
    if not shutil.which("go") and not (ROOT / ".tools/bin/actionlint").exists():
        pytest.skip("needs Go to build actionlint")
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    text = (projects["defaults"] / ".github/workflows/ci.yml").read_text()
    broken.write_text(text.replace("needs: [test, lint, vuln, helm]", "needs: [test, lint, vuln, helm, missing]"))
    proc = subprocess.run(
        [str(actionlint_binary()), "-no-color", "-shellcheck", "", str(broken)], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "missing" in proc.stdout


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_workflows_match_the_github_schema(projects: dict[str, Path], variant: str) -> None:
    files = workflows(projects[variant])
    proc = check_jsonschema("vendor.github-workflows", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_action_is_pinned_to_a_commit_and_release(projects: dict[str, Path], variant: str) -> None:
    for wf in workflows(projects[variant]):
        for line in wf.read_text().splitlines():
            if re.match(r"^\s*(-\s*)?uses:", line):
                assert _PINNED_USES.match(line), f"{wf.name}: action not pinned to a SHA and a full version: {line}"


def test_ci_runs_every_check_on_pull_requests_and_pushes(projects: dict[str, Path]) -> None:
    ci = yaml.safe_load((projects["defaults"] / ".github/workflows/ci.yml").read_text())
    triggers = ci[True]  # YAML 1.1 reads the key `on` as a boolean
    assert "pull_request" in triggers and "push" in triggers
    steps = {job: yaml.safe_dump(spec["steps"]) for job, spec in ci["jobs"].items()}
    assert "go test -race" in steps["test"]
    assert "golangci/golangci-lint-action@" in steps["lint"]
    assert "govulncheck" in steps["vuln"]
    assert "helm lint --strict" in steps["helm"] and "helm template" in steps["helm"]
    assert "azure/setup-helm@" in steps["helm"]
    for action in ("setup-qemu-action", "setup-buildx-action", "metadata-action", "build-push-action"):
        assert f"docker/{action}@" in steps["image"], action
    for job in ("test", "lint", "vuln"):
        setup_go = next(s for s in ci["jobs"][job]["steps"] if s.get("uses", "").startswith("actions/setup-go@"))
        assert setup_go["with"]["cache"] is True and setup_go["with"]["go-version-file"] == "go.mod"


def test_lint_version_matches_the_suite(projects: dict[str, Path]) -> None:
    """CI lints with the golangci-lint version the suite proves clean (scripts/tools.sh)."""
    ci = yaml.safe_load((projects["defaults"] / ".github/workflows/ci.yml").read_text())
    pinned = re.search(r"^GOLANGCI_VERSION=(\S+)$", (ROOT / "scripts/tools.sh").read_text(), re.M)
    assert pinned and ci["env"]["GOLANGCI_LINT_VERSION"] == pinned.group(1)


@pytest.mark.parametrize(
    ("variant", "registry", "login_secret"),
    [
        ("defaults", "ghcr.io/acme", "secrets.GITHUB_TOKEN"),
        ("renovate", "registry.example.com:5000/shop", "secrets.REGISTRY_PASSWORD"),
    ],
)
def test_least_privilege_and_push_only_on_tags(
    projects: dict[str, Path], variant: str, registry: str, login_secret: str
) -> None:
    project = projects[variant]
    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    assert ci["permissions"] == {"contents": "read"}
    service = VARIANTS[variant]["service_name"]
    assert ci["env"]["IMAGE"] == f"{registry}/{service}"
    for name, job in ci["jobs"].items():
        perms = job.get("permissions", {})
        if name == "image":
            want = (
                {"contents": "read", "packages": "write"} if registry.startswith("ghcr.io/") else {"contents": "read"}
            )
            assert perms == want
        else:
            assert "packages" not in perms and perms.get("contents", "read") == "read", name
    image_steps = ci["jobs"]["image"]["steps"]
    build = next(s for s in image_steps if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["push"] == "${{ startsWith(github.ref, 'refs/tags/v') }}"
    login = next(s for s in image_steps if s.get("uses", "").startswith("docker/login-action@"))
    assert login["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert login["with"]["registry"] == registry.split("/")[0]
    assert login_secret in login["with"]["password"]
    platforms = VARIANTS[variant].get("platforms", ["linux/amd64", "linux/arm64"])
    assert build["with"]["platforms"] == ",".join(platforms)
    release = yaml.safe_load((project / ".github/workflows/release.yml").read_text())
    assert release["permissions"] == {"contents": "read"}
    assert release["jobs"]["binaries"]["permissions"] == {"contents": "write"}


# ------------------------------------------------------------------------ dependency bots


def test_dependabot_config_is_valid_and_grouped(projects: dict[str, Path]) -> None:
    project = projects["defaults"]
    path = project / ".github" / "dependabot.yml"
    assert not (project / ".github" / "renovate.json").exists()
    proc = check_jsonschema("vendor.dependabot", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    updates = yaml.safe_load(path.read_text())["updates"]
    assert {u["package-ecosystem"] for u in updates} == {"gomod", "docker", "github-actions"}
    assert all(u.get("groups") for u in updates)


def test_dependabot_schema_check_rejects_a_bad_file(tmp_path: Path) -> None:
    """The schema check is real: an unknown ecosystem fails it."""
    bad = tmp_path / "dependabot.yml"
    bad.write_text("version: 2\nupdates:\n  - package-ecosystem: nope\n    directory: /\n")
    assert check_jsonschema("vendor.dependabot", bad).returncode != 0


def test_renovate_config_is_valid(projects: dict[str, Path]) -> None:
    project = projects["renovate"]
    path = project / ".github" / "renovate.json"
    assert not (project / ".github" / "dependabot.yml").exists()
    proc = check_jsonschema("vendor.renovate", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------- LICENSE, CODEOWNERS, misc


@pytest.mark.parametrize(
    ("variant", "first_line", "holder"),
    [
        ("defaults", "Apache License", None),
        ("renovate", "MIT License", "Copyright (c) Acme Corp"),
        ("bsd", "BSD 3-Clause License", "Copyright (c) acme authors"),
    ],
)
def test_license_follows_the_answer(
    projects: dict[str, Path], variant: str, first_line: str, holder: str | None
) -> None:
    text = (projects[variant] / "LICENSE").read_text()
    assert text.strip().splitlines()[0].strip() == first_line
    if holder:
        assert holder in text
    assert "{{" not in text


def test_no_license_when_none(projects: dict[str, Path]) -> None:
    assert not (projects["unlicensed"] / "LICENSE").exists()


@pytest.mark.parametrize(("variant", "owner"), [("defaults", "@acme/platform"), ("renovate", "@platform-team")])
def test_codeowners_names_the_owner(projects: dict[str, Path], variant: str, owner: str) -> None:
    rules = [ln for ln in (projects[variant] / "CODEOWNERS").read_text().splitlines() if not ln.startswith("#")]
    assert rules == [f"* {owner}"]


def test_editorconfig_and_gitignore(projects: dict[str, Path]) -> None:
    project = projects["defaults"]
    editorconfig = (project / ".editorconfig").read_text()
    assert "root = true" in editorconfig and "indent_style = tab" in editorconfig
    ignored = (project / ".gitignore").read_text().splitlines()
    assert "/bin/" in ignored and "/dist/" in ignored


def test_default_registry_is_derived_from_the_module_path(projects: dict[str, Path]) -> None:
    answers = yaml.safe_load((projects["bsd"] / ".copier-answers.yml").read_text())
    assert answers["container_registry"] == "ghcr.io/acme"
    rendered = render(
        Path(projects["bsd"]).parent / "gh", {"service_name": "x-svc", "module_path": "github.com/Big-Org/x"}
    )
    answers = yaml.safe_load((rendered / ".copier-answers.yml").read_text())
    assert answers["container_registry"] == "ghcr.io/big-org"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"container_registry": "Ghcr.io/acme"}, "lowercase"),
        ({"container_registry": "acme"}, "registry host"),
        ({"container_registry": "ghcr.io/acme/"}, "path element"),
        ({"license": "GPL-3.0"}, "license"),
        ({"dependency_bot": "greenkeeper"}, "dependency_bot"),
        ({"license": "MIT", "copyright_holder": " "}, "copyright_holder"),
    ],
)
def test_repository_answers_are_validated(tmp_path: Path, answers: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, copier.errors.CopierError)) as info:
        render(tmp_path / "svc", {"service_name": "demo-svc", **answers})
    assert message in str(info.value) or message in repr(info.value)
    assert not (tmp_path / "svc" / "go.mod").exists()


# ------------------------------------------------------------------------- README drift

_TABLE = re.compile(r"<!-- env-vars:begin -->\n(.*?)<!-- env-vars:end -->", re.S)
_GETENV = re.compile(r"[Gg]etenv\(\s*\"([A-Z][A-Z0-9_]*)\"\s*\)")
_CONFIG_READ = re.compile(r"\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"\s*,\s*(\w+)\s*\)")
_CONST = re.compile(r"^\s*(\w+)\s*=\s*(.+?)\s*$", re.M)
#: A Go string literal that is exactly an UPPER_SNAKE name: how variable names read in loops appear.
_ENV_LITERAL = re.compile(r"\"([A-Z][A-Z0-9]*_[A-Z0-9_]+)\"")


def readme_env_table(project: Path) -> dict[str, str]:
    """Return variable -> default cell of the README's service configuration table."""
    m = _TABLE.search((project / "README.md").read_text())
    assert m, "README has no env-vars table"
    rows = [ln for ln in m.group(1).splitlines() if ln.startswith("| `")]
    table: dict[str, str] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = cells[0].strip("`")
        assert name not in table, f"{name} listed twice"
        table[name] = cells[1]
    return table


def go_sources(project: Path) -> list[Path]:
    """Return the non-test Go files of a rendered project."""
    return [p for p in sorted(project.rglob("*.go")) if not p.name.endswith("_test.go")]


def env_vars_read(project: Path) -> set[str]:
    """Return every environment variable the service's own Go code reads (static scan)."""
    names: set[str] = set()
    for path in go_sources(project):
        src = path.read_text()
        names |= set(_GETENV.findall(src)) | set(_ENV_LITERAL.findall(src))
        if path.parent.name == "config":
            names |= {name for name, _ in _CONFIG_READ.findall(src)}
    return names


def go_const_value(expr: str) -> str | None:
    """Return a Go constant expression's value as text: quoted strings, integers and `a << b`."""
    if m := re.fullmatch(r'"([^"]*)"', expr):
        return m.group(1)
    if re.fullmatch(r"\d+", expr):
        return expr
    if m := re.fullmatch(r"(\d+)\s*<<\s*(\d+)", expr):
        return str(int(m.group(1)) << int(m.group(2)))
    return None


@pytest.mark.parametrize("variant", ["defaults", "renovate"])
def test_readme_lists_exactly_the_env_vars_the_service_reads(projects: dict[str, Path], variant: str) -> None:
    project = projects[variant]
    documented = set(readme_env_table(project))
    read = env_vars_read(project)
    assert read, "found no environment reads in the Go code"
    assert documented == read, (
        f"README lists but code does not read: {sorted(documented - read)}; "
        f"code reads but README does not list: {sorted(read - documented)}"
    )


@pytest.mark.parametrize("variant", ["defaults", "renovate"])
def test_readme_defaults_match_the_config_defaults(projects: dict[str, Path], variant: str) -> None:
    project = projects[variant]
    table = readme_env_table(project)
    config_src = "\n".join(p.read_text() for p in go_sources(project) if p.parent.name == "config")
    consts = {name: go_const_value(expr) for name, expr in _CONST.findall(config_src)}
    checked = 0
    for name, const in _CONFIG_READ.findall(config_src):
        value = consts.get(const)
        if value is None:
            continue
        assert f"`{value}`" in table[name], f"{name}: README default {table[name]!r}, Go default {value!r}"
        checked += 1
    assert checked >= 10, f"compared only {checked} defaults; the config layout changed"


_RECORDER = """package config

import (
	"sort"
	"strings"
	"testing"
)

// TestZZRecordEnvReads prints every variable Load asks for, one line, for the README drift test.
func TestZZRecordEnvReads(t *testing.T) {
	seen := map[string]bool{}
	_, _ = Load(func(name string) string { seen[name] = true; return "" })
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	t.Log("ENVREADS " + strings.Join(names, ","))
}
"""


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["defaults", "renovate"])
def test_readme_lists_every_variable_config_load_asks_for(projects: dict[str, Path], variant: str) -> None:
    """Dynamic check: call the real config.Load with a recording getenv (no regex on Go code)."""
    project = projects[variant]
    probe = project / "internal" / "config" / "zz_envreads_test.go"
    probe.write_text(_RECORDER)
    try:
        out = run(["go", "test", "-count=1", "-run", "TestZZRecordEnvReads", "-v", "./internal/config/"], project)
    finally:
        probe.unlink()
    m = re.search(r"ENVREADS (\S+)", out)
    assert m, out
    asked = set(m.group(1).split(","))
    documented = set(readme_env_table(project))
    assert asked <= documented, f"config.Load reads variables the README does not list: {sorted(asked - documented)}"
    assert asked == {v for v in env_vars_read(project) if v in asked} and len(asked) >= 15
    if VARIANTS[variant].get("hot_reload"):
        assert "CONFIG_FILE" in asked


@pytest.mark.parametrize("variant", ["defaults", "renovate"])
def test_readme_has_the_day_one_sections(projects: dict[str, Path], variant: str) -> None:
    """The service README covers run locally, configure, deploy with Helm, observe and update with gosmith."""
    readme = (projects[variant] / "README.md").read_text()
    headings = [ln.removeprefix("## ").strip() for ln in readme.splitlines() if ln.startswith("## ")]
    for section in ("Run locally", "Configure", "Deploy with Helm", "Observe", "Update with gosmith"):
        assert section in headings, f"README lacks '## {section}': {headings}"
    update = readme.split("## Update with gosmith", 1)[1]
    assert "gosmith update" in update and "gosmith check" in update
    observe = readme.split("## Observe", 1)[1].split("\n## ", 1)[0].lower()
    for signal in ("log", "metrics", "trac"):
        assert signal in observe, f"Observe section does not mention {signal}"
