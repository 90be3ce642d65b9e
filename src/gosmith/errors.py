"""gosmith's one error family: each kind carries its exit code; the CLI maps them in one place.

| Error          | Exit | Meaning                                                             |
| -------------- | ---- | ------------------------------------------------------------------- |
| `UserError`    | 2    | bad input or a refused operation the user can fix                   |
| `AnswerError`  | 2    | answers that break a rule of the template (one-line reason)         |
| `GitError`     | 4    | a git command failed (its one-line stderr is the reason)            |
| `TemplateError`| 5    | the installed template or its release history is broken (a bug)     |
| `Aborted`      | 130  | interrupted with Ctrl-C (128 + SIGINT, as shells report it)         |

Exit 1 is left to results that are not errors (update conflicts, `check` behind, doctor findings)
and exit 3 to `gosmith check` on a project whose template version is unknown.
"""

from __future__ import annotations


class GosmithError(Exception):
    """Base of every error gosmith reports as one line and an exit code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UserError(GosmithError):
    """A problem the user can fix (bad input, refused operation)."""

    exit_code = 2


class AnswerError(UserError):
    """Answers that break a rule of the template (unknown key, range, impossible combination)."""


class GitError(GosmithError):
    """A git command failed; the message names the command and git's first line of stderr."""

    exit_code = 4


class TemplateError(GosmithError):
    """The installed template or its release history is unusable (missing files, a changed release)."""

    exit_code = 5


#: The one message of an interrupted command, whenever the Ctrl-C arrives (gosmith writes nothing half-done).
ABORTED = "aborted, nothing written"


class Aborted(GosmithError):
    """The user interrupted the command (Ctrl-C)."""

    exit_code = 130

    def __init__(self, message: str = ABORTED, exit_code: int | None = None) -> None:
        super().__init__(message, exit_code)
