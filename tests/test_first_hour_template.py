"""A newcomer's first hour in the generated repository: its README's links, and Ctrl-C on `make run`."""

from __future__ import annotations

import os
import re
import shutil
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
