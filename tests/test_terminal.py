"""Terminal behaviour of the real `gosmith` console script: Ctrl-C at any moment and colours on a pty,
`--pretend` into a pipe, one-line errors. Every test runs a separate process (the entry point pip wrote)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from gosmith.template import active_root
from gosmith.versions import current_version

GOSMITH = shutil.which("gosmith", path=str(Path(sys.executable).parent)) or "gosmith"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ABORTED = "error: aborted, nothing written"


def _controlling_tty() -> None:
    """In the child: a session of its own with the pty as controlling terminal, so ^C there sends SIGINT."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def on_pty(args: list[str], cwd: Path, env: dict[str, str] | None = None,
           interrupt_after: str | None = None, delay: float = 0.0, timeout: float = 120) -> tuple[int, str]:
    """Run gosmith on a pty; type Ctrl-C `delay` s after the regex `interrupt_after` matched its output (if given).

    Returns (exit code, everything it wrote to the terminal, carriage returns removed).
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen([GOSMITH, *args], cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "TERM": "xterm", **(env or {})}, preexec_fn=_controlling_tty)
    os.close(slave)
    out = b""
    sent = interrupt_after is None
    seen_at: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sent and seen_at is not None and time.monotonic() >= seen_at + delay:
                os.write(master, b"\x03")
                sent = True
            ready, _, _ = select.select([master], [], [], 0.01)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                if not sent and seen_at is None and interrupt_after and re.search(interrupt_after.encode(), out):
                    seen_at = time.monotonic()
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert sent, f"{interrupt_after!r} never appeared: {out[-2000:]!r}"
    return code, out.decode("utf-8", "replace").replace("\r", "")


# Moments while `gosmith new` runs, found in the import log Python writes with PYTHONPROFILEIMPORTTIME:
# the CLI's own imports (typer), copier's imports inside the command, the template being prepared, and
# copier answering and rendering (just after it loaded the Jinja extensions of its environment).
MOMENTS = [
    (r"\|\s+typer\._click\b", 0.0),
    (r"\|\s+copier\._", 0.0),
    (r"\|\s+gosmith\.materialise\b", 0.0),
    (r"(?m)\|\s+jinja2_ansible_filters\s*$", 0.05),  # copier has built its Jinja environment: asking, rendering
]


@pytest.mark.parametrize(("marker", "delay"), MOMENTS, ids=["cli-imports", "copier-imports", "prepare", "render"])
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(tmp_path: Path, marker: str, delay: float) -> None:
    code, out = on_pty(["new", "svc", "--defaults", "-o", str(tmp_path / "deep" / "svc")], tmp_path,
                       env={"PYTHONPROFILEIMPORTTIME": "1"}, interrupt_after=marker, delay=delay)
    after = out[re.search(marker, out).end():]  # type: ignore[union-attr]
    said = [ln.replace("^C", "").strip() for ln in after.splitlines()[1:]]
    said = [ln for ln in said if ln and not ln.startswith("import time:")]
    assert code == 130, out[-3000:]
    assert said == [ABORTED], out[-3000:]
    assert os.listdir(tmp_path) == []


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    args = ["new", "svc", "--defaults", "-o", str(tmp_path / "svc"), "--pretend"]
    code, out = on_pty(args, tmp_path)
    assert code == 0, out
    assert ANSI.search(out) and re.search(r"create.*go\.mod", ANSI.sub("", out)), out[:2000]
    code, out = on_pty(args, tmp_path, env={"NO_COLOR": "1"})
    assert code == 0, out
    assert "\x1b[" not in out and re.search(r"create\s+go\.mod", out), out[:2000]
    assert os.listdir(tmp_path) == []


def test_pretend_into_a_pipe_is_plain_text_with_the_real_version(tmp_path: Path) -> None:
    proc = subprocess.run([GOSMITH, "new", "svc", "--defaults", "--pretend", "-o", str(tmp_path / "svc")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    assert "\x1b" not in text, text[:2000]
    assert "version None" not in text
    assert f"Copying from template version {current_version(active_root())}" in text
    assert re.search(r"^\s+create  go\.mod$", text, re.M), text[:2000]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args", [
    ["-d", "http_port=80"],
    ["-d", "memory_limt=1Gi"],
    ["--module", "bad module"],
])
def test_new_error_is_exactly_one_line(tmp_path: Path, args: list[str]) -> None:
    proc = subprocess.run([GOSMITH, "new", "svc", "--defaults", "-o", str(tmp_path / "svc"), *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert os.listdir(tmp_path) == []
