"""`gosmith tune`: run the template's tuning rules on answers and present the result (pure API)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gosmith import answers as answers_mod
from gosmith.errors import AnswerError
from gosmith.template import rules


@dataclass
class TuneResult:
    """The answers the rules read (defaults filled in) and what they derived."""

    inputs: dict[str, Any]
    tuning: Any  # hooks.tuning.Tuning (loaded from the template at run time)


def tune(
    overrides: dict[str, Any], answers_file: Path | None = None, data: dict[str, Any] | None = None
) -> TuneResult:
    """Derive the tuned values from an answers file (optional), then `-d` data, then named options.

    Validation and derivation are `answers.evaluate`, the same function `gosmith new` and `update`
    run: `tune` refuses exactly the answers they refuse, with the same message.
    """
    merged: dict[str, Any] = {}
    if answers_file is not None:
        from_file = answers_mod.load_answers_file(answers_file)
        merged.update(answers_mod.normalize_lists(from_file, f"--answers-file {answers_file}: "))
    merged.update(answers_mod.normalize_lists(data or {}, "--data "))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        full, tuning = answers_mod.evaluate(merged)
    except AnswerError as exc:
        raise AnswerError(answers_mod.name_defaults(str(exc), merged), exc.exit_code) from exc
    inputs = {k: full[k] for k in rules().tuning.DEFAULTS if k in full}
    return TuneResult(inputs=inputs, tuning=tuning)


def _show(value: Any) -> str:
    """Return a compact, readable form of a derived value."""
    if value == "" or value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return " ".join(f"{k}={_show(v)}" for k, v in value.items())
    return str(value)


def table(result: TuneResult) -> str:
    """Return the human-readable table: setting, value, formula and why, then the warnings."""
    rows = result.tuning.rows()
    shown = [(key, "0 (unset)" if key == "gomaxprocs" and value == 0 else _show(value)) for key, value, *_ in rows]
    key_w = max(len("SETTING"), *(len(k) for k, _ in shown))
    val_w = min(16, max(len("VALUE"), *(len(v) for _, v in shown)))
    pad = " " * (key_w + val_w + 4)
    lines = [f"{'SETTING':<{key_w}}  {'VALUE':<{val_w}}  FORMULA / WHY"]
    for (key, value), (_, _, formula, why) in zip(shown, rows, strict=True):
        if len(value) > val_w:
            lines.append(f"{key:<{key_w}}  {value}")
            lines.append(f"{pad}{formula}")
        else:
            lines.append(f"{key:<{key_w}}  {value:<{val_w}}  {formula}")
        if why:
            lines.append(f"{pad}why: {why}")
    warnings = result.tuning.warnings
    lines.append("")
    lines.append("Warnings:" if warnings else "Warnings: none")
    lines.extend(f"  - {w}" for w in warnings)
    return "\n".join(lines)


def to_json(result: TuneResult) -> str:
    """Return the machine-readable result: inputs, values, reasons, why and warnings."""
    t = result.tuning
    doc = {
        "inputs": result.inputs,
        "values": t.values,
        "reasons": t.reasons,
        "why": t.why,
        "warnings": t.warnings,
    }
    return json.dumps(doc, indent=2, sort_keys=False)
