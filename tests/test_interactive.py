"""`gosmith new` prompts for every unanswered question when a terminal is attached (driven through a real pty)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from gen import ROOT

pexpect = pytest.importorskip("pexpect")

pytestmark = pytest.mark.slow


def test_prompts_on_a_terminal_and_accepts_defaults(tmp_path: Path) -> None:
    gosmith = shutil.which("gosmith") or str(Path(os.sys.executable).parent / "gosmith")
    out = tmp_path / "p"
    child = pexpect.spawn(
        gosmith, ["new", "inter", "-o", str(out), "-d", "http_port=8123"],
        encoding="utf-8", timeout=60, dimensions=(60, 200), env={**os.environ, "TERM": "xterm"},
    )
    transcript = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        # Each time the prompt goes quiet it is waiting for input: accept the default with Enter.
        i = child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.7)
        transcript.append(child.before or "")
        if i == 1:
            break
        child.send("\r")
    child.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", "".join(transcript))
    assert child.exitstatus == 0, text[-2000:]

    questions = yaml.safe_load((ROOT / "copier.yml").read_text())
    asked = {q: spec for q, spec in questions.items() if not q.startswith("_") and isinstance(spec, dict)}
    # Answered on the command line: not asked. Every other visible question: its help was shown.
    for name, spec in asked.items():
        if name in {"service_name", "http_port"} or "when" in spec:  # conditional questions may be skipped
            continue
        first_words = str(spec["help"]).split(":")[0].split("(")[0].strip()[:30]
        assert first_words in text, f"question {name} was not prompted ({first_words!r})"
    assert "Service name" not in text
    recorded = yaml.safe_load((out / ".copier-answers.yml").read_text())
    assert recorded["http_port"] == 8123
    assert recorded["module_path"] == "example.com/inter"
