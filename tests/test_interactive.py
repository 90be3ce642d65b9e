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

#: Seconds without output after which the prompt is taken to wait for input (Enter accepts the default).
#: An Enter sent a little early is not lost: it waits in the pty until the next prompt reads it.
QUIET = 0.3


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
        i = child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=QUIET)
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


# ------------------------------------------------------------- terminal behaviour (80 columns, Ctrl-C)

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


def spawn(args: list[str], columns: int = 80) -> pexpect.spawn:
    """Start gosmith on a pty of `columns` columns."""
    gosmith = shutil.which("gosmith") or str(Path(os.sys.executable).parent / "gosmith")
    return pexpect.spawn(gosmith, args, encoding="utf-8", timeout=60, dimensions=(40, columns),
                         env={**os.environ, "TERM": "xterm", "COLUMNS": str(columns)})


def plain(text: str) -> str:
    """Return terminal output without escape sequences and carriage returns."""
    return ANSI.sub("", text).replace("\r", "")


def answer_rest_with_defaults(child: pexpect.spawn, transcript: list[str]) -> None:
    """Press Enter whenever the prompt goes quiet, until gosmith exits."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        i = child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=QUIET)
        transcript.append(child.before or "")
        if i == 1:
            return
        child.send("\r")
    raise AssertionError("gosmith did not finish")


@pytest.mark.parametrize("columns", [80, 60])
def test_wrong_answer_is_re_asked_with_the_whole_reason_visible(tmp_path: Path, columns: int) -> None:
    from gosmith.template import rules

    reason = rules().validate.check("http_port", 80)
    assert reason and len(reason) >= columns, "the reason must be longer than the terminal is wide"
    out = tmp_path / "p"
    questions = [q for q in yaml.safe_load((ROOT / "copier.yml").read_text()) if not q.startswith("_")]
    before = [f"-d{q}=" for q in questions[: questions.index("http_port")] if q != "service_name"]
    answered = {"-dmodule_path=": "example.com/inter", "-ddescription=": "Interactive", "-downer=": "@acme/x",
                "-dgo_version=": "1.26"}
    args = [flag + answered[flag] for flag in before]  # KeyError: a new question before http_port; answer it here
    child = spawn(["new", "inter", "-o", str(out), *args, "-d", "admin_port=9191"], columns)
    child.expect("Port of the application")  # the first question asked
    time.sleep(0.5)
    child.send("\x7f" * 6 + "80\r")
    time.sleep(1.5)
    child.send("\x7f" * 6 + "8181\r")
    transcript = [child.before or ""]
    answer_rest_with_defaults(child, transcript)
    child.close()
    text = plain("".join(transcript))
    assert child.exitstatus == 0, text[-2000:]
    lines = [ln.strip() for ln in text.splitlines()]
    assert any(ln.endswith(reason) for ln in lines), f"full reason {reason!r} not on one line:\n{text[-3000:]}"
    after = text.split(reason, 1)[1]
    assert "Port of the application" in after.split("Port of the admin listener")[0]  # asked again
    assert yaml.safe_load((out / ".copier-answers.yml").read_text())["http_port"] == 8181


def test_ctrl_c_at_a_question_is_one_line_exit_130_nothing_written(tmp_path: Path) -> None:
    child = spawn(["new", "inter", "-o", str(tmp_path / "deep" / "p")])
    child.expect("Go module path")
    time.sleep(0.5)
    child.send("\r")
    child.expect("One-line description")
    time.sleep(0.5)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    text = plain(child.before or "")
    assert child.exitstatus == 130, text
    assert "error: aborted, nothing written" in text
    assert "AnswersMap" not in text and "Traceback" not in text
    assert os.listdir(tmp_path) == []
