"""Console entry point (`gosmith`, `python -m gosmith`): Ctrl-C while the CLI's imports load is one line too."""

from __future__ import annotations


def main() -> None:
    """Run the CLI; a Ctrl-C that arrives before the CLI can handle it prints the same one line (exit 130)."""
    try:
        from gosmith.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        from gosmith.interrupts import exit_interrupted

        exit_interrupted()


if __name__ == "__main__":
    main()
