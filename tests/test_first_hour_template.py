"""A newcomer's first hour in the generated repository: its README, `make image` without buildx, `make run`'s Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from gen import Rendered, listeners

pexpect = pytest.importorskip("pexpect")


def test_generated_readme_links_to_no_package_index_page(rendered: Rendered) -> None:
    """gosmith is not published on a package index: the README linked to a PyPI page that does not exist."""
    readme = (rendered("defaults") / "README.md").read_text()
    links = re.findall(r"\]\((https?://[^)\s]+)\)", readme)
    assert links, "expected some links"
    for link in links:
        assert not re.match(r"https?://(pypi\.org|pypi\.python\.org|test\.pypi\.org)/", link), link
    assert "gosmith" in readme.split("\n## ", 1)[0]  # still says what generated it


@pytest.mark.slow
def test_ctrl_c_on_make_run_stops_the_service_without_a_make_error(rendered: Rendered, tmp_path: Path) -> None:
    if shutil.which("make") is None or shutil.which("go") is None:
        pytest.skip("needs make and go")
    project = rendered.copy("defaults", tmp_path / "svc")  # `make run` builds into bin/
    # Free loopback ports: the answered ones and the debug default (127.0.0.1:6060) may be taken.
    env = {**os.environ, **listeners().env, "DRAIN_DELAY": "0s", "TERM": "dumb", "OTEL_SDK_DISABLED": "true"}
    child = pexpect.spawn("make", ["run"], cwd=str(project), env=env, encoding="utf-8", timeout=600)
    child.expect('"msg":"starting"', timeout=600)
    time.sleep(1)
    child.sendintr()
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    text = child.before or ""
    assert '"msg":"stopped"' in text, text[-2000:]
    assert "Error" not in text and "***" not in text, text[-2000:]


def _fake_docker(bin_dir: Path, with_buildx: bool) -> None:
    """A `docker` that behaves like one without the buildx plugin (docker's own error), or records bake's args."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "docker"
    if with_buildx:
        script.write_text('#!/bin/sh\n[ "$1 $2" = "buildx version" ] && { echo "github.com/docker/buildx v0.30"; '
                          'exit 0; }\necho "docker $*" > "$(dirname "$0")/called"\n')
    else:
        script.write_text('#!/bin/sh\necho "unknown flag: --set" >&2\necho "See \'docker --help\'." >&2\nexit 125\n')
    script.chmod(0o755)


@pytest.mark.parametrize("docker", ["missing", "no-buildx"])
def test_make_image_says_what_is_missing(rendered: Rendered, tmp_path: Path, docker: str) -> None:
    """Without the buildx plugin docker printed "unknown flag: --set"; make image now names what is missing."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    bin_dir = tmp_path / "bin"
    if docker == "no-buildx":
        _fake_docker(bin_dir, with_buildx=False)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(["make", "image"], cwd=rendered("defaults"), env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert "unknown flag" not in proc.stderr, proc.stderr
    want = "docker is not on PATH" if docker == "missing" else "needs the docker buildx plugin"
    assert want in proc.stderr and "install" in proc.stderr, proc.stderr


def test_make_image_runs_bake_when_buildx_is_there(rendered: Rendered, tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make")
    _fake_docker(tmp_path / "bin", with_buildx=True)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(["make", "image"], cwd=rendered("defaults"), env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "bin" / "called").read_text().startswith("docker buildx bake --set *.platform=")


def test_generated_readme_says_how_to_run_gosmith_from_its_venv(rendered: Rendered) -> None:
    """gosmith's README installs it into a virtualenv: the generated README says how to run it from there."""
    readme = (rendered("defaults") / "README.md").read_text()
    section = readme[readme.index("## Update with gosmith"):]
    section = section[: section.find("\n## ", 5)]
    before_commands = section[: section.index("```sh")]
    assert ".venv/bin/gosmith" in before_commands and "activate" in before_commands, before_commands
    assert "pipx install" in before_commands
