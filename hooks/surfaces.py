"""Text the rule table (settings.py) generates for other files: copier.yml's questions (stdlib only).

scripts/gen_surfaces.py writes the files; tests/test_settings.py fails with the diff when a committed
file differs from what the table generates now.
"""

from __future__ import annotations

import json
from typing import Any

from . import quantities as q
from . import settings as st
from . import tuning

#: Comment lines under a copier.yml section header.
SECTION_NOTES: dict[str, tuple[str, ...]] = {
    "KUBERNETES CLIENT": ("A service that reads Kubernetes objects (informer) or reconciles a custom resource "
                          "(controller).",),
    "RESOURCES AND TIMING": (
        "Every derived value (GOMAXPROCS, GOMEMLIMIT, server timeouts, drain, grace period, probes, HPA/PDB)",
        "comes from these answers through hooks/tuning.py; `gosmith tune` shows the formulas (docs/tuning.md).",
    ),
}
#: The banner line copier.yml's generated PROMPT section starts after.
PROMPT_BANNER = "# ================================= PROMPT =================================="
COPIER_TYPES = {"int": "int", "number": "float", "bool": "bool"}


def constants() -> dict[str, str]:
    """Return the tuning constants help texts may name, as they read in text (`{GRACE_MARGIN}` -> 2s)."""
    return {
        "MIN_MEMORY_LIMIT": q.format_bytes(tuning.MIN_MEMORY_LIMIT),
        "MIN_HEADROOM": q.format_bytes(tuning.MIN_HEADROOM),
        "GRACE_MARGIN": _seconds(tuning.GRACE_MARGIN_MS),
        "IDLE_MARGIN": _seconds(tuning.IDLE_MARGIN_MS),
        "STARTUP_FACTOR": str(tuning.STARTUP_FACTOR),
        "PRESTOP_SLEEP_KUBE_MINOR": str(tuning.PRESTOP_SLEEP_KUBE_MINOR),
    }


def _seconds(ms: int) -> str:
    return f"{st.fmt(st.Fraction(ms, 1000))}s"


def help_text(s: st.Setting) -> str:
    """Return the copier help of `s` with its range and the tuning constants filled in."""
    return (s.help or s.description).format(range=s.range_text(), **constants())


def _yaml(value: Any) -> str:
    """Return `value` as a YAML flow scalar or list (JSON is YAML)."""
    return json.dumps(value, ensure_ascii=False)


def question(s: st.Setting) -> list[str]:
    """Return the copier.yml lines of the question `s`."""
    out = [f"{s.name}:", f"  type: {COPIER_TYPES.get(s.type, 'str')}", f"  help: {_yaml(help_text(s))}"]
    if s.type == "multichoice":
        out.append("  multiselect: true")
    if s.choices:
        out += ["  choices:", *(f"    - {c}" for c in s.choices)]
    out.append(f"  default: {_yaml(s.copier_default or s.default)}")
    if s.when:
        out.append(f"  when: {_yaml(s.when)}")
    out.append(f"  validator: {_yaml(st.copier_validator(s.name))}")
    return out


def section_header(name: str) -> list[str]:
    """Return the comment lines that open a copier.yml section."""
    head = f"# --- {name} "
    return [head + "-" * (77 - len(head)), *(f"# {line}" for line in SECTION_NOTES.get(name, ()))]


def copier_prompt() -> str:
    """Return copier.yml's PROMPT section (after its banner): every answer of the table, in order."""
    lines = ["# Generated from the rule table (hooks/settings.py) by scripts/gen_surfaces.py: edit the table."]
    section = None
    for s in st.ANSWERS:
        if s.section != section:
            section = s.section
            lines += ["", *section_header(section)]
        else:
            lines.append("")
        lines += question(s)
    return "\n".join(lines) + "\n"


def copier_yml(current: str) -> str:
    """Return copier.yml with its PROMPT section generated; the CONFIGURATION section above stays as written."""
    head, sep, _ = current.partition(PROMPT_BANNER + "\n")
    if not sep:
        raise ValueError(f"copier.yml has no line {PROMPT_BANNER!r}")
    return head + sep + copier_prompt()
