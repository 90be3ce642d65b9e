"""`gosmith check`: is a generated project behind the template version this gosmith ships?"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from gosmith import materialise, versions
from gosmith.errors import GosmithError
from gosmith.template import active_root
from gosmith.update import read_answers, recorded_version

#: Exit codes for CI gating (2 is a refusal: no, unreadable or foreign answers file).
EXIT_CURRENT = 0
EXIT_BEHIND = 1
EXIT_UNKNOWN = 3


@dataclass
class CheckResult:
    """The project's recorded template version against the installed one."""

    path: str
    project_version: str  # the recorded `_commit` itself when status is "unknown"
    template_version: str
    status: str  # "current", "behind", "ahead" or "unknown"
    commit: str | None = None  # the recorded commit id, when the version was found from it

    @property
    def exit_code(self) -> int:
        """Return 1 when the project is behind, 3 when its version is unknown, else 0."""
        return {"behind": EXIT_BEHIND, "unknown": EXIT_UNKNOWN}.get(self.status, EXIT_CURRENT)

    def human(self) -> str:
        """Return the one-line human report."""
        version = f"{self.project_version} (commit {self.commit})" if self.commit else self.project_version
        if self.status == "behind":
            return (f"{self.path}: behind: template {version}, gosmith ships {self.template_version}; "
                    "run `gosmith update`")
        if self.status == "ahead":
            return (f"{self.path}: ahead: template {version} is newer than the {self.template_version} "
                    "this gosmith ships; upgrade gosmith")
        if self.status == "unknown":
            return (f"{self.path}: unknown: recorded template ref {self.project_version} is no template version "
                    f"this gosmith knows (gosmith ships {self.template_version}); run `gosmith update`, "
                    "which updates it from the recorded _src_path")
        return f"{self.path}: current: template {version}"

    def to_json(self) -> str:
        """Return the report as a JSON object (`update_available` is null when the status is unknown)."""
        data = {k: v for k, v in asdict(self).items() if k != "commit" or v is not None}
        available = None if self.status == "unknown" else self.status == "behind"
        return json.dumps({**data, "update_available": available}, sort_keys=True)


def _template_repo() -> materialise.Materialised | None:
    """Refresh the template repository (so plain `copier update` finds it); None where that is impossible.

    Best effort: `gosmith check` needs neither git nor a writable cache to answer.
    """
    if shutil.which("git") is None:
        return None
    try:
        return materialise.materialise()
    except (OSError, GosmithError):
        return None


def check(path: Path) -> CheckResult:
    """Compare the project's recorded `_commit` with the shipped template version (no network).

    A recorded tag (`v1.2.3`, or `v1.2.3-4-gabc` as 1.2.3.post4) is compared as is. A commit id (plain
    `copier copy` of an untagged template checkout) counts as the version whose files it holds when
    the recorded `_src_path` is a local checkout with that commit; otherwise the status is
    "unknown" (exit 3). Also refreshes the template repository that plain `copier update` reads.
    """
    path = path.resolve()
    answers = read_answers(path)
    built = _template_repo()
    installed = built.current if built else versions.current_version(active_root())
    ref = answers["_commit"]
    recorded = recorded_version(ref)
    commit = None
    if recorded is None and built is not None:
        recorded = materialise.version_of_commit(answers["_src_path"], ref, built)
        commit = str(ref) if recorded is not None else None
    if recorded is None:
        return CheckResult(path=str(path), project_version=str(ref), template_version=str(installed), status="unknown")
    status = "behind" if recorded < installed else "ahead" if recorded > installed else "current"
    return CheckResult(path=str(path), project_version=str(recorded), template_version=str(installed), status=status,
                       commit=commit)
