"""Console entry point (`gosmith`, `python -m gosmith`): Ctrl-C while the CLI's imports load is one line too."""

from __future__ import annotations


def main() -> None:
    """Run the CLI; a Ctrl-C that arrives before the CLI can handle it prints the same one line (exit 130)."""
    try:
        from gosmith.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        from gosmith.interrupts import exit_interrupted, ignore_further_interrupts

        ignore_further_interrupts()
        exit_interrupted()
    except SystemExit as exc:
        if exc.code == 130:  # interrupted: the line is printed, a second Ctrl-C must not add a traceback
            from gosmith.interrupts import ignore_further_interrupts

            ignore_further_interrupts()
        raise


if __name__ == "__main__":
    main()
