"""The one copier extension module: exposes gosmith's pure rules (hooks/) to the template."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from copier.errors import UserMessageError
from copier_template_extensions import ContextHook
from jinja2.ext import Extension

_HERE = Path(__file__).resolve().parent


def load_rules() -> ModuleType:
    """Import this template's hooks package under a name unique to its path (old and new templates differ)."""
    name = "gosmith_hooks_" + hashlib.sha1(str(_HERE).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, _HERE / "__init__.py", submodule_search_locations=[str(_HERE)]
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    importlib.import_module(f"{name}.settings")
    importlib.import_module(f"{name}.tuning")
    importlib.import_module(f"{name}.validate")
    return module


class GosmithFilters(Extension):
    """Jinja filters used by copier.yml validators (`settings.copier_validator` writes each call)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        rules = load_rules()
        environment.filters["gosmith_check"] = lambda value, field, **others: rules.settings.check(
            field, value, **others
        )


#: Derived values by answers: copier builds a render context for every file name and file it
#: renders (hundreds per project), and the answers stay the same throughout.
_TUNED: dict[str, Any] = {}


class GosmithContext(ContextHook):
    """Put derived values into the render context on every copy and update."""

    def hook(self, context: dict[str, Any]) -> None:
        rules = load_rules()
        answers = {k: v for k, v in context.items() if not k.startswith("_") and k != "tuned"}
        key = json.dumps(answers, sort_keys=True, default=repr)
        if key not in _TUNED:
            # The same validate-then-derive as `gosmith new`, `update` and `tune`. Its one-line reason goes
            # out as copier's UserMessageError, which the copier CLI prints as that line (no traceback).
            try:
                _TUNED[key] = rules.validate.evaluate(answers).as_context()
            except rules.tuning.TuningError as exc:
                raise UserMessageError(str(exc)) from exc
        context["tuned"] = _TUNED[key]
