"""Validate answers, then derive: the one entry point `gosmith new`, `update`, `tune` and copier share.

The rules themselves live in the table (hooks/settings.py: single-field limits and cross-field
rules) and in hooks/tuning.py (combinations and derived values). `evaluate(answers)` runs them in
that order, so every command refuses exactly the same answers with the same one-line message and
reports the same warnings.
"""

from __future__ import annotations

from typing import Any

from .settings import (  # noqa: F401  (re-exported: the names gosmith and the docs read from validate)
    FIELDS,
    MAX_GO_MINOR,
    MIN_GO_MINOR,
    check,
    check_answers,
)
from .tuning import Tuning, TuningError, derive


def evaluate(answers: dict[str, Any]) -> Tuning:
    """Validate `answers` (single-field, then cross-field rules), then derive; raise TuningError on the first error."""
    errors = check_answers(answers)
    if errors:
        raise TuningError(errors[0])
    return derive(answers)
