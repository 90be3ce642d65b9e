"""The generated project builds, vets, formats, tests and serves: run with the real Go toolchain."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from gen import ANSWER_SETS, go_build, listeners, render, run, wait_http

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=sorted(ANSWER_SETS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp(request.param) / "svc", ANSWER_SETS[request.param])


def test_go_toolchain_is_clean(project: Path) -> None:
    shipped = {f: (project / f).read_bytes() for f in ("go.mod", "go.sum") if (project / f).exists()}
    run(["go", "mod", "tidy"], project)
    for name, before in shipped.items():
        assert (project / name).read_bytes() == before, f"go mod tidy changed the shipped {name}"
    assert run(["gofmt", "-l", "."], project).strip() == ""
    run(["go", "vet", "./..."], project)
    run(["go", "build", "./..."], project)
    run(["go", "test", "-race", "-count=1", "./..."], project)


def test_binary_serves_healthz(project: Path, tmp_path: Path) -> None:
    binary = go_build(project, tmp_path / "svc")
    ports = listeners()
    env = {
        **ports.env,
        "OTEL_SDK_DISABLED": "true",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_http(f"{ports.app_url}/healthz")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out.decode()}\n{err.decode()}"
