"""`gosmith check`: is a generated project behind the template version this gosmith ships?"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from gosmith import source
from gosmith.errors import UserError
from gosmith.update import read_answers, recorded_version

#: Exit codes for CI gating.
EXIT_CURRENT = 0
EXIT_BEHIND = 1


@dataclass
class CheckResult:
    """The project's recorded template version against the installed one."""

    path: str
    project_version: str
    template_version: str
    status: str  # "current", "behind" or "ahead"

    @property
    def exit_code(self) -> int:
        """Return 1 when the project is behind, else 0."""
        return EXIT_BEHIND if self.status == "behind" else EXIT_CURRENT

    def human(self) -> str:
        """Return the one-line human report."""
        if self.status == "behind":
            return (f"{self.path}: behind: template {self.project_version}, gosmith ships {self.template_version}; "
                    "run `gosmith update`")
        if self.status == "ahead":
            return (f"{self.path}: ahead: template {self.project_version} is newer than the {self.template_version} "
                    "this gosmith ships; upgrade gosmith")
        return f"{self.path}: current: template {self.project_version}"

    def to_json(self) -> str:
        """Return the report as a JSON object."""
        return json.dumps({**asdict(self), "update_available": self.status == "behind"}, sort_keys=True)


def check(path: Path) -> CheckResult:
    """Compare the project's recorded `_commit` with the shipped template version (no network, no git)."""
    path = path.resolve()
    answers = read_answers(path)
    installed = source.current_version()
    recorded = recorded_version(answers["_commit"])
    if recorded is None:
        raise UserError(f"{path}: recorded template ref {answers['_commit']!r} is not a version")
    status = "behind" if recorded < installed else "ahead" if recorded > installed else "current"
    return CheckResult(path=str(path), project_version=str(recorded), template_version=str(installed), status=status)
