"""What the docs tell a developer to run locally works on the built service.

Every `curl` line in docs/ and in the generated README reaches an endpoint the service really serves on the
listener that port stands for (app, admin or debug), with the method, headers and body the line gives. Two
services generated with different ports run side by side with `make run`: each debug listener gets the port
the README names, and a second process left on the binary's default port stops with a message saying why.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import gen
import pytest

pytestmark = pytest.mark.slow

#: The ports docs/ use: a service generated with the default answers (gosmith new my-service --defaults).
DOC_PORTS = {8080: "app", 9090: "admin", 6060: "debug"}
SETS = ("defaults", "http-go1265-ports")
URL = re.compile(r"(?:https?://)?(?:localhost|127\.0\.0\.1):(\d+)(/[^\s`'\"|)]*)")


def run_debug_port(project: Path) -> int:
    """The debug port `make run` gives the service (its Makefile's DEBUG_ADDR default)."""
    m = re.search(r"(?m)^run: export DEBUG_ADDR \?= 127\.0\.0\.1:(\d+)$", (project / "Makefile").read_text())
    assert m, "the Makefile sets no DEBUG_ADDR for make run"
    return int(m[1])


def curl_lines(text: str) -> list[str]:
    """Every curl command of a Markdown text (code blocks and inline code) that names a local URL."""
    out = []
    for line in text.splitlines():
        for cmd in re.findall(r"`(curl [^`]+)`", line) or ([line.strip()] if line.strip().startswith("curl ") else []):
            if URL.search(cmd):
                out.append(cmd)
    return out


def request_of(cmd: str) -> tuple[str, int, str, dict[str, str], bytes | None]:
    """(method, port, path, headers, body) of a curl command line (what comes after a pipe or # is ignored)."""
    words = shlex.split(cmd.split("|")[0].split(" #")[0])
    method, headers, body, port, path = "", {}, None, 0, ""
    it = iter(words[1:])
    for word in it:
        if word == "-X":
            method = next(it)
        elif word == "-H":
            key, _, value = next(it).partition(":")
            headers[key.strip()] = value.strip()
        elif word == "-d":
            body = next(it).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif m := URL.fullmatch(word):
            port, path = int(m[1]), m[2]
    assert port, f"no local URL in {cmd!r}"
    return method or ("POST" if body is not None else "GET"), port, path, headers, body


def start(binary: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(binary)], cwd=cwd, env={**os.environ, "OTEL_SDK_DISABLED": "true", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def call(port: int, path: str, method: str, headers: dict[str, str], body: bytes | None) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.parametrize("answers", SETS)
def test_every_documented_curl_reaches_a_served_endpoint(rendered: gen.Rendered, answers: str,
                                                         tmp_path: Path) -> None:
    project = rendered(answers)
    a = rendered.answers(answers)
    readme_ports = {a.get("http_port", 8080): "app", a.get("admin_port", 9090): "admin",
                    run_debug_port(project): "debug", 6060: "debug"}  # 6060: the pods' port, port-forwarded
    sources: dict[str, tuple[list[str], dict[int, str]]] = {
        "generated README": (curl_lines((project / "README.md").read_text()), readme_ports)}
    if answers == "defaults":
        for doc in sorted((gen.ROOT / "docs").glob("*.md")):
            sources[f"docs/{doc.name}"] = (curl_lines(doc.read_text()), DOC_PORTS)
    assert sum(len(lines) for lines, _ in sources.values()) >= 4, sources

    ports = gen.listeners()
    role_port = {"app": ports.app, "admin": ports.admin, "debug": ports.debug}
    proc = start(rendered.binary(answers), ports.env, tmp_path)
    try:
        gen.wait_http(f"{ports.admin_url}/readyz")
        for source, (lines, roles) in sources.items():
            for cmd in lines:
                method, port, path, headers, body = request_of(cmd)
                assert port in roles, f"{source}: `{cmd}` uses port {port}, which no listener has ({roles})"
                status = call(role_port[roles[port]], path, method, headers, body)
                assert 200 <= status < 300, f"{source}: `{cmd}` -> {status} on the {roles[port]} listener"
    finally:
        gen.stop(proc, 30)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_two_services_run_side_by_side_with_make_run(rendered: gen.Rendered, tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make not on PATH")
    running: list[subprocess.Popen[str]] = []
    try:
        services: list[dict[str, Any]] = []
        for answers in SETS:
            project = rendered.copy(answers, tmp_path / answers)
            name = rendered.answers(answers)["service_name"]
            (project / "bin").mkdir(exist_ok=True)
            shutil.copy2(rendered.binary(answers), project / "bin" / name)
            debug = run_debug_port(project)
            readme = (project / "README.md").read_text()
            assert f"curl -s localhost:{debug}/loglevel" in readme, "the README names another debug port"
            if not port_free(debug):
                pytest.skip(f"127.0.0.1:{debug} is taken on this machine")
            ports = gen.listeners()  # free app/admin ports; the debug port is the one `make run` derives
            env = {k: v for k, v in os.environ.items() if k != "DEBUG_ADDR"}
            env.update({"HTTP_ADDR": ports.env["HTTP_ADDR"], "ADMIN_ADDR": ports.env["ADMIN_ADDR"],
                        "OTEL_SDK_DISABLED": "true"})
            # -o build: the binary is already there (built once for the run); `make run` runs it as it is
            running.append(subprocess.Popen(["make", "-s", "-o", "build", "run"], cwd=project, env=env,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                            start_new_session=True))
            services.append({"admin": ports.admin, "debug": debug, "project": project, "name": name})
            gen.wait_http(f"{ports.admin_url}/readyz", timeout=30)
        assert len({s["debug"] for s in services}) == 2
        for s in services:
            assert running[services.index(s)].poll() is None, s
            gen.wait_http(f"http://127.0.0.1:{s['debug']}/loglevel")

        # the binary alone on its default debug port, while another service holds it: a clear start error
        if services[0]["debug"] == 6060:
            alone = gen.listeners()
            env = {"HTTP_ADDR": alone.env["HTTP_ADDR"], "ADMIN_ADDR": alone.env["ADMIN_ADDR"]}
            proc = start(services[1]["project"] / "bin" / services[1]["name"], env, tmp_path)
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode != 0, out
            assert "listen on DEBUG_ADDR 127.0.0.1:6060 (give each service on this machine its own loopback port" \
                   in out, out
    finally:
        for proc in running:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.communicate()
