"""Console entry point (`gosmith`, `python -m gosmith`): Ctrl-C from its first statement on is one line and exit 130."""

# Only modules the interpreter has loaded when it starts, until the handler is set: anything else
# (`signal` with its enum, `typing`) would leave milliseconds in which a Ctrl-C is Python's traceback.
import _signal
import _thread
import gc
import os
import sys
import time

from gosmith.errors import ABORTED, Aborted  # imports nothing more (the package loaded `__future__`)

_ABORTED_LINE = f"error: {ABORTED}\n".encode()


def _interrupted_early(_signum: int, _frame: object) -> None:
    """SIGINT before the CLI handles Ctrl-C itself: nothing has started, so print the one line and exit 130 now.

    It imports nothing: the signal may have stopped any module halfway through its import.
    """
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    try:
        os.write(2, _ABORTED_LINE)
    finally:  # even without a stderr to write to
        os._exit(Aborted.exit_code)


_signal.signal(_signal.SIGINT, _interrupted_early)

# No cyclic garbage collection in this short-lived process: a command leaves little cyclic garbage (the
# peak memory of `new` and `update` grows by under a megabyte without it), while the one full collection
# of a `gosmith new` walks every object typer, copier, pydantic and Jinja created (20-40 ms measured).
gc.disable()


def _interrupt(_signum: int, frame: object) -> None:
    """SIGINT while a command runs: KeyboardInterrupt, which the commands turn into the line after cleaning up.

    An exception raised in a destructor (a temporary file closing in `__del__`) is printed and then
    ignored by Python, and the command would go on: there the interrupt comes again a moment later.
    """
    caller = frame
    while caller is not None:
        if getattr(getattr(caller, "f_code", None), "co_name", "") == "__del__":
            _thread.start_new_thread(_interrupt_again, ())
            return
        caller = getattr(caller, "f_back", None)
    raise KeyboardInterrupt


def _interrupt_again() -> None:
    """Deliver SIGINT to the main thread again (to `_interrupt`) after 2 ms."""
    time.sleep(0.002)
    _thread.interrupt_main()


def _run() -> None:
    """Load and run the CLI; a Ctrl-C that reaches here (outside a command) is the same one line."""
    try:
        from gosmith.cli import main as cli_main  # a Ctrl-C meanwhile: `_interrupted_early`

        # From here on Ctrl-C is KeyboardInterrupt: the commands turn it into the line (and clean up first).
        _signal.signal(_signal.SIGINT, _interrupt)
        cli_main()
    except KeyboardInterrupt:
        from gosmith.interrupts import exit_interrupted, ignore_further_interrupts

        ignore_further_interrupts()
        exit_interrupted()


def main() -> None:
    """Run the CLI and leave with its exit code, skipping the interpreter's teardown of every loaded module."""
    try:
        _run()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    _leave(code)


def _leave(code: object) -> None:
    """Exit with `code` as `sys.exit` would, without tearing the interpreter down.

    The teardown frees the few hundred modules typer, copier, pydantic and Jinja load (tens of
    milliseconds, a tenth of `gosmith new`) and runs nothing gosmith needs: every command has closed
    its files and removed its temporary directories before it returns. The output streams are flushed
    here; a failed flush is exit 120, as Python reports it.
    """
    # leaving: a Ctrl-C now (a second one after an interrupted command's line) must not add a traceback
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            status = status or 120
    os._exit(status)


if __name__ == "__main__":
    main()
