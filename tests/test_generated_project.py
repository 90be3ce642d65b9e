"""The generated project builds, vets, formats, tests and serves: run with the real Go toolchain."""

from __future__ import annotations

import subprocess

import pytest
from gen import ANSWER_SETS, Rendered, listeners, run, wait_http

pytestmark = pytest.mark.slow


@pytest.fixture(params=sorted(ANSWER_SETS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_go_toolchain_is_clean(rendered: Rendered, name: str) -> None:
    project = rendered(name)
    assert rendered.tidy_diff(name) == "", f"go mod tidy changes the shipped go.mod/go.sum:\n{rendered.tidy_diff(name)}"
    assert run(["gofmt", "-l", "."], project).strip() == ""
    run(["go", "vet", "./..."], project)
    run(["go", "build", "./..."], project)
    run(["go", "test", "-race", "-count=1", "./..."], project)


def test_binary_serves_healthz(rendered: Rendered, name: str) -> None:
    binary = rendered.binary(name)
    ports = listeners()
    env = {
        **ports.env,
        "OTEL_SDK_DISABLED": "true",
        "DRAIN_DELAY": "200ms",  # the default (15s) would only make SIGTERM wait; the drain is tested elsewhere
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_http(f"{ports.app_url}/healthz")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out.decode()}\n{err.decode()}"
