"""Parse and check answers given on the command line or in an answers file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gosmith.errors import UserError
from gosmith.template import questions, rules


def parse_data(pairs: list[str]) -> dict[str, str]:
    """Turn ["key=value", ...] into a dict; a pair without '=' is an error."""
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--data {pair!r}: expected key=value")
        data[key.strip()] = value
    return data


def load_answers_file(path: Path) -> dict[str, Any]:
    """Read a YAML answers file (copier's `.copier-answers.yml` works too); private keys are dropped."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--answers-file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"--answers-file {path}: not valid YAML ({exc.__class__.__name__})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"--answers-file {path}: expected a mapping of question: answer")
    return {str(k): v for k, v in loaded.items() if not str(k).startswith("_")}


def normalize_lists(answers: dict[str, Any], source: str = "") -> dict[str, Any]:
    """Return `answers` with every list question (copier `multiselect`) as a list of its choices.

    A list answer may be given as a YAML list or as one comma-separated string
    (`-d platforms=linux/amd64,linux/arm64`); anything else, or an unknown choice, is a one-line error.
    """
    known = questions()
    out = dict(answers)
    for name, value in answers.items():
        spec = known.get(name)
        if not (isinstance(spec, dict) and spec.get("multiselect")):
            continue
        where = f"{source}{name}"
        items: Any = value
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    items = yaml.safe_load(text)
                except yaml.YAMLError:
                    raise UserError(f"{where}: {value!r} is not a YAML list") from None
            else:
                items = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise UserError(f"{where} must be a list or a comma-separated string of choices, got {value!r}")
        choices = [str(c) for c in spec.get("choices") or []]
        bad = [i for i in items if choices and i not in choices]
        if bad:
            raise UserError(f"{where}: {bad[0]!r} is not one of {', '.join(choices)}")
        out[name] = items
    return out


def check(answers: dict[str, Any]) -> None:
    """Raise UserError naming the first unknown key or rule violation in `answers`."""
    known = questions()
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise UserError(f"unknown answer {unknown[0]!r}; known answers: {', '.join(known)}")
    for name, value in answers.items():
        spec = known[name]
        if (
            isinstance(spec, dict)
            and spec.get("type") == "str"
            and not spec.get("multiselect")
            and isinstance(value, (list, dict))
        ):
            raise UserError(f"{name} must be a single text value, got {value!r}")
    errors = rules().validate.check_answers(answers)
    if errors:
        raise UserError(errors[0])


def resolve(answers: dict[str, Any]) -> dict[str, Any]:
    """Return `answers` completed with every question's default (Jinja defaults rendered in order)."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    full: dict[str, Any] = {}
    for name, spec in questions().items():
        if name in answers:
            full[name] = answers[name]
            continue
        default = spec.get("default") if isinstance(spec, dict) else spec
        if isinstance(default, str) and "{" in default:
            default = env.from_string(default).render(**full)
        full[name] = default
    full.update({k: v for k, v in answers.items() if k not in full})
    return full


def evaluate(answers: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Validate `answers` with defaults filled in, then derive: the one path `new`, `update` and `tune` share.

    Returns the full answers and the template's `Tuning` (values, formulas, warnings); raises
    UserError with the first rule the answers break (the same one-line message for every command).
    """
    check(answers)
    full = resolve(answers)
    validate = rules().validate
    try:
        tuning = validate.evaluate(full)
    except rules().tuning.TuningError as exc:
        raise UserError(str(exc)) from exc
    return full, tuning


def print_warnings(warnings: list[str]) -> None:
    """Print each tuning warning as one `warning:` line on stderr (what `gosmith tune` lists under Warnings)."""
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)


def check_all(
    answers: dict[str, Any], warn: Callable[[list[str]], None] | None = print_warnings
) -> dict[str, Any]:
    """Validate `answers` with defaults filled in, including the tuning rules; report warnings; return the full set."""
    full, tuning = evaluate(answers)
    if warn is not None:
        warn(list(tuning.warnings))
    return full
