"""The one error type the CLI turns into a one-line message and an exit code."""


class UserError(Exception):
    """A problem the user can fix (bad input, refused operation); carries the CLI exit code."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
