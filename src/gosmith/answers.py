"""Parse and check answers given on the command line or in an answers file."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from gosmith.errors import AnswerError, UserError
from gosmith.template import config, filters_extension, questions, rules


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
            hint = rules().settings.did_you_mean(bad[0], choices)
            raise UserError(f"{where}: {bad[0]!r} is not one of {', '.join(choices)}{hint}")
        out[name] = items
    return out


def check_shape(answers: dict[str, Any]) -> None:
    """Raise AnswerError for an unknown key or a list where a text answer belongs (no rules, no defaults).

    The rules themselves run once per command, where the full answers are known: in copier's
    context hook for `new` and `update` (hooks/extension.py), in `evaluate` for `tune`.
    """
    known = questions()
    unknown = sorted(set(answers) - set(known))
    if unknown:
        hint = rules().settings.did_you_mean(unknown[0], known)
        raise AnswerError(f"unknown answer {unknown[0]!r}{hint}; known answers: {', '.join(known)}")
    for name, value in answers.items():
        spec = known[name]
        if (
            isinstance(spec, dict)
            and spec.get("type") == "str"
            and not spec.get("multiselect")
            and isinstance(value, (list, dict))
        ):
            raise AnswerError(f"{name} must be a single text value, got {value!r}")


def check_given(answers: dict[str, Any]) -> None:
    """Refuse wrong shapes and given values that break their own field's rule, in the rule table's words.

    Only the values given (no defaults, no cross-field rules, nothing derived): copier casts and checks
    choices before its validators run, with its own wording, and would accept `maybe` for a yes/no
    question. The full validate-then-derive runs once, in copier's context hook.
    """
    check_shape(answers)
    settings = rules().settings
    for name, value in answers.items():
        rule = settings.FIELDS.get(name)
        if rule and (message := rule(value)):
            raise AnswerError(message)


def _default_environment() -> Any:
    """Return a Jinja environment like the one copier renders defaults with (its documented defaults).

    copier renders in a SandboxedEnvironment with `jinja2_ansible_filters` (e.g. `regex_replace`),
    the template's `_jinja_extensions` and `_envops`; the extensions that only add context are left
    out, the template's filters are in.
    """
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    envops = {k: v for k, v in (config().get("_envops") or {}).items() if k != "undefined"}
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension", filters_extension()],
        **envops,
    )


def resolve(answers: dict[str, Any]) -> dict[str, Any]:
    """Return `answers` completed with every question's default (Jinja defaults rendered in order, as copier does)."""
    env = None
    full: dict[str, Any] = {}
    for name, spec in questions().items():
        if name in answers:
            full[name] = answers[name]
            continue
        default = spec.get("default") if isinstance(spec, dict) else spec
        if isinstance(default, str) and "{" in default:
            env = env or _default_environment()
            default = env.from_string(default).render(**full)
        full[name] = default
    full.update({k: v for k, v in answers.items() if k not in full})
    return full


def evaluate(answers: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Validate `answers` with defaults filled in, then derive (`gosmith tune`: no copier involved).

    Returns the full answers and the template's `Tuning` (values, formulas, warnings); raises
    AnswerError with the first rule the answers break (the same one-line message copier's hook gives).
    """
    check_shape(answers)
    full = resolve(answers)
    try:
        tuning = rules().validate.evaluate(full)
    except rules().tuning.TuningError as exc:
        raise AnswerError(str(exc)) from exc
    return full, tuning


def name_defaults(message: str, given: dict[str, Any]) -> str:
    """Return `message` with each default it quotes, of an answer the user did not give, called a default.

    `gosmith tune --cpu-limit 100m` broke the rule `cpu_request <= cpu_limit` with the default
    cpu_request 250m, which the user never typed: the message now says where the value came from and
    how to set it. An answer counts as quoted when the message names it and shows its default value.
    `new` and `tune` add the same note, so both print the same line.
    """
    full = resolve(given)
    notes = []
    for name in questions():
        value = full.get(name)
        shown = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        if name in given or not shown or not re.search(rf"\b{re.escape(name)}\b", message):
            continue
        if not re.search(rf"(?<![\w.]){re.escape(shown)}(?![\w.])", message):
            continue
        notes.append(f"{name} {shown} is the default, not a value you gave: set it with -d {name}=VALUE")
    return f"{message} ({'; '.join(notes)})" if notes else message


def rendered_warnings(destination: Path) -> list[str]:
    """Return the tuning warnings copier's context hook (hooks/extension.py) derived rendering into `destination`."""
    shared = sys.modules.get("gosmith_template_evaluations")
    found: dict[str, list[str]] = getattr(shared, "warnings_by_destination", {})
    wanted = destination.resolve()
    for path, warnings in found.items():
        if Path(path).resolve() == wanted:
            return list(warnings)
    return []


def print_warnings(warnings: list[str]) -> None:
    """Print each tuning warning as one `warning:` line on stderr (what `gosmith tune` lists under Warnings)."""
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)


