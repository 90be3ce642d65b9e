"""Ctrl-C: one line and exit 130 whenever it arrives; kept out of the moment gosmith writes files."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn

from gosmith.errors import ABORTED, Aborted


@contextlib.contextmanager
def no_interrupt() -> Iterator[None]:
    """Ignore SIGINT while the body runs (main thread only: signal handlers can be set only there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exit_interrupted() -> NoReturn:
    """Print the one line of an interrupted command and exit 130 (the console entry ignores a second Ctrl-C)."""
    print(f"error: {ABORTED}", file=sys.stderr, flush=True)
    raise SystemExit(Aborted.exit_code)


def ignore_further_interrupts() -> None:
    """Ignore SIGINT from now on: the process is exiting (console entry only; children would inherit it)."""
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
