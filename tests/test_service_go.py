"""The generated Go service passes gofmt, go vet, go build (with and without -tags pprof) and
go test -race for the answer variants that change its Go code, and ships a tidy go.mod/go.sum."""

from __future__ import annotations

from pathlib import Path

import pytest
from gen import GO127, PROJECTS, Rendered, render, run

pytestmark = pytest.mark.slow

#: Variants of the answers that select different Go files and modules (the foundation's
#: ANSWER_SETS cover the defaults); rendered once per run and shared with test_service_runtime.
SERVICE_VARIANTS = ("grpc-b3-reload-go126", "http-go1265-ports")


@pytest.fixture(scope="module", params=SERVICE_VARIANTS)
def variant(request: pytest.FixtureRequest, rendered: Rendered) -> tuple[str, Path]:
    """The project of one variant (rendered once per run)."""
    return request.param, rendered(request.param)


def test_variant_selects_its_files(variant: tuple[str, Path]) -> None:
    """Conditional files follow the answers: one exporter, one propagator, reload only on request."""
    name, project = variant
    answers = PROJECTS[name]
    tel = project / "internal" / "telemetry"
    assert (tel / "exporter_grpc.go").exists() == (answers["otlp_protocol"] == "grpc")
    assert (tel / "exporter_http.go").exists() == (answers["otlp_protocol"] == "http")
    b3 = answers.get("b3_propagation", False)
    assert (tel / "propagation_b3.go").exists() == b3
    assert (tel / "propagation.go").exists() != b3
    hot = answers.get("hot_reload", False)
    assert (project / "internal" / "config" / "file.go").exists() == hot
    assert ("CONFIG_FILE" in (project / "internal" / "config" / "config.go").read_text()) == hot
    gomod = (project / "go.mod").read_text()
    go_line = answers["go_version"] if answers["go_version"].count(".") == 2 else answers["go_version"] + ".0"
    assert f"\ngo {go_line}\n" in gomod
    assert ("github.com/fsnotify/fsnotify" in gomod) == hot
    assert ("go.opentelemetry.io/contrib/propagators/b3" in gomod) == b3
    assert not list(project.rglob("*.jinja")), "a template suffix leaked into the project"


def test_go_mod_tidy_changes_nothing(variant: tuple[str, Path], rendered: Rendered) -> None:
    """The shipped go.mod and go.sum are exactly what `go mod tidy` writes for this variant."""
    name, project = variant
    assert (project / "go.mod").exists() and (project / "go.sum").exists()
    assert rendered.tidy_diff(name) == "", f"go mod tidy changes go.mod/go.sum:\n{rendered.tidy_diff(name)}"


def test_gofmt_vet_build(variant: tuple[str, Path], tmp_path: Path) -> None:
    """gofmt reports nothing; vet and build pass with and without the pprof tag; the pprof-only test passes."""
    _, project = variant
    assert run(["gofmt", "-l", "."], project).strip() == ""
    for tags in ([], ["-tags", "pprof"]):
        run(["go", "vet", *tags, "./..."], project)
        run(["go", "build", *tags, "-o", str(tmp_path / "bin") + "/", "./..."], project, env={"CGO_ENABLED": "0"})
    run(["go", "test", "-count=1", "-tags", "pprof", "-run", "Pprof|Admin", "./internal/server/"], project)


def test_go_test_race(variant: tuple[str, Path]) -> None:
    """The generated project's own tests (handlers, drain, logs, tracing, metrics, config, goleak) pass."""
    _, project = variant
    out = run(["go", "test", "-race", "-count=1", "./..."], project)
    for pkg in (
        "internal/app",
        "internal/server",
        "internal/config",
        "internal/telemetry",
        "internal/metrics",
        "internal/logging",
    ):
        assert any(line.startswith("ok") and line.split()[1].endswith(pkg) for line in out.splitlines()), (
            f"{pkg} ran no tests:\n{out}"
        )


def test_go127_vet_build_race(tmp_path: Path) -> None:
    """With go_version 1.27 every feature's code passes gofmt, vet, build and go test -race under Go 1.27."""
    project = render(
        tmp_path / "svc",
        {
            "service_name": "newest",
            "go_version": "1.27",
            "otlp_protocol": "grpc",
            "b3_propagation": True,
            "hot_reload": True,
        },
    )
    assert "\ngo 1.27.0\n" in (project / "go.mod").read_text()
    assert run(["go", "env", "GOVERSION"], project, env=GO127).strip() == "go1.27.3"
    goroot = Path(run(["go", "env", "GOROOT"], project, env=GO127).strip())
    assert run([str(goroot / "bin" / "gofmt"), "-l", "."], project).strip() == ""
    before = {f: (project / f).read_bytes() for f in ("go.mod", "go.sum")}
    run(["go", "mod", "tidy"], project, env=GO127)
    assert {f: (project / f).read_bytes() for f in before} == before, "go mod tidy under Go 1.27 changed go.mod/go.sum"
    for tags in ([], ["-tags", "pprof"]):
        run(["go", "vet", *tags, "./..."], project, env=GO127)
        run(
            ["go", "build", *tags, "-o", str(tmp_path / "bin") + "/", "./..."],
            project,
            env={**GO127, "CGO_ENABLED": "0"},
        )
    out = run(["go", "test", "-race", "-count=1", "./..."], project, env=GO127)
    assert "FAIL" not in out, out
    for pkg in ("internal/app", "internal/server", "internal/config", "internal/telemetry", "internal/metrics"):
        assert any(line.startswith("ok") and line.split()[1].endswith(pkg) for line in out.splitlines()), out
