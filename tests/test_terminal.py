"""Terminal behaviour of the real `gosmith` console script: Ctrl-C at any moment and colours on a pty,
`--pretend` into a pipe, one-line errors. Every test runs a separate process (the entry point pip wrote)."""

from __future__ import annotations

import fcntl
import json
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
           interrupt_after: str | None = None, delay: float = 0.0, timeout: float = 120,
           entry: list[str] | None = None) -> tuple[int, str]:
    """Run gosmith on a pty; type Ctrl-C `delay` s after the regex `interrupt_after` matched its output (if given).

    `entry` is the command that starts gosmith (default: the console script).
    Returns (exit code, everything it wrote to the terminal, carriage returns removed).
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen([*(entry or [GOSMITH]), *args], cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
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
    assert code == 130, out[-3000:]
    assert _said_after(out, marker) == [ABORTED], out[-3000:]
    assert os.listdir(tmp_path) == []


def _said_after(out: str, marker: str) -> list[str]:
    """Return the lines written after the line `marker` matched, import-log lines and the echoed ^C left out.

    The terminal echoes ^C where the interrupt came and drops the output it had not passed on yet
    (e.g. the end of an import-log line): what follows the ^C starts a line of its own.
    """
    after = out[re.search(marker, out).end():]  # type: ignore[union-attr]
    said = [ln.strip() for ln in after.replace("^C", "\n").splitlines()[1:]]
    return [ln for ln in said if ln and not ln.startswith("import time:")]


#: Ways to start gosmith, each with the first line of Python's import log written after gosmith's entry
#: module set its SIGINT handler (before it, only the interpreter's own start: nothing of gosmith runs there).
ENTRIES = {
    "console-script": ([GOSMITH], r"(?m)\|\s+gosmith\.__main__\s*$"),
    "python-m-gosmith": ([sys.executable, "-m", "gosmith"], r"(?m)\|\s+typer\._click\s*$"),
    "python-m-gosmith.cli": ([sys.executable, "-m", "gosmith.cli"], r"(?m)\|\s+typer\._click\s*$"),
}


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_ctrl_c_from_the_entry_modules_first_moments_is_one_line_and_exit_130(tmp_path: Path, entry: str) -> None:
    """Ctrl-C 0, 1, 2, 5, 10 and 20 ms after the entry module started: the one line and 130, never a traceback.

    `python -m gosmith.cli` imported typer before anything handled Ctrl-C: a traceback.
    """
    command, marker = ENTRIES[entry]
    for delay in (0.0, 0.001, 0.002, 0.005, 0.01, 0.02):
        code, out = on_pty(["new", "svc", "--defaults", "-o", str(tmp_path / "svc")], tmp_path, entry=command,
                           env={"PYTHONPROFILEIMPORTTIME": "1"}, interrupt_after=marker, delay=delay)
        assert "Traceback" not in out, (delay, out[-3000:])
        assert code == 130, (delay, out[-3000:])
        assert _said_after(out, marker) == [ABORTED], (delay, out[-3000:])
        assert os.listdir(tmp_path) == []


def test_the_entry_module_sets_its_handler_before_importing_anything_the_interpreter_has_not_loaded() -> None:
    """Before gosmith/__main__.py sets its SIGINT handler it imports only modules loaded at interpreter start.

    Any other import there (`typing`, `signal` with its enum) is milliseconds in which a Ctrl-C is a
    traceback. Read from the source: importing the entry module would set its handler in this process.
    """
    import ast

    import gosmith

    loaded = subprocess.run([sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
                            capture_output=True, text=True, check=True).stdout.split()
    package = Path(gosmith.__file__).parent
    # gosmith.errors imports only `__future__`, which the package's own __init__ has loaded
    errors = ast.parse((package / "errors.py").read_text(encoding="utf-8"))
    assert {n.module for n in ast.walk(errors) if isinstance(n, ast.ImportFrom)} == {"__future__"}
    assert not any(isinstance(n, ast.Import) for n in ast.walk(errors))
    allowed = {*loaded, *sys.builtin_module_names, "gosmith.errors"}
    tree = ast.parse((package / "__main__.py").read_text(encoding="utf-8"))
    before: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and "SIGINT, _interrupted_early" in ast.unparse(node):
            break
        if isinstance(node, ast.Import):
            before += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            before.append(node.module or "")
    else:
        pytest.fail("gosmith/__main__.py sets no SIGINT handler at its top level")
    assert before and set(before) <= allowed, sorted(set(before) - allowed)
    for name in ("_interrupted_early", "_interrupt", "_interrupt_again"):
        handler = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        # the signal may have stopped a module halfway through its import: the handlers import nothing
        assert not any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(handler)), name


def test_ctrl_c_inside_a_destructor_still_interrupts() -> None:
    """Python prints and ignores an exception raised in `__del__`: there the interrupt comes again a moment later."""
    code = """if True:
        import _signal, signal, sys, time
        import gosmith.__main__ as entry
        _signal.signal(_signal.SIGINT, entry._interrupt)  # what the entry module sets once the CLI is loaded

        class ClosingFile:
            def __del__(self):
                signal.raise_signal(signal.SIGINT)  # Ctrl-C while a temporary file closes

        try:
            ClosingFile()
            time.sleep(2)
            print("went on")
        except KeyboardInterrupt:
            print("interrupted")
    """
    import ast

    import gosmith

    entry = ast.parse((Path(gosmith.__file__).parent / "__main__.py").read_text(encoding="utf-8"))
    run = next(n for n in entry.body if isinstance(n, ast.FunctionDef) and n.name == "_run")
    assert "_signal.signal(_signal.SIGINT, _interrupt)" in ast.unparse(run)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "interrupted", (proc.stdout, proc.stderr)
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_exit_code_and_piped_output_survive_the_fast_exit(tmp_path: Path) -> None:
    """The console entry skips the interpreter's teardown: its output still arrives whole, its exit code unchanged."""
    proc = subprocess.run([GOSMITH, "tune", "--json", "--replicas", "3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["inputs"]["replicas"] == 3
    proc = subprocess.run([GOSMITH, "tune", "--json", "--cpu-limit", "1m"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == 2
    proc = subprocess.run([GOSMITH, "new", "svc", "--defaults", "-o", str(tmp_path / "svc"), "-d", "http_port=80"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr


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
