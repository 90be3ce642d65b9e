"""Keep Ctrl-C out of the short moment in which gosmith writes files into the user's directory."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


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
