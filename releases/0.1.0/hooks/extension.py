"""The one copier extension module: exposes gosmith's pure rules (hooks/) to the template."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

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
    importlib.import_module(f"{name}.validate")
    importlib.import_module(f"{name}.tuning")
    return module


class GosmithFilters(Extension):
    """Jinja filters used by copier.yml validators."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        rules = load_rules()
        environment.filters["gosmith_check"] = lambda value, field: rules.validate.check(field, value)


class GosmithContext(ContextHook):
    """Put derived values into the render context on every copy and update."""

    def hook(self, context: dict[str, Any]) -> None:
        rules = load_rules()
        errors = rules.validate.check_answers({k: context[k] for k in rules.validate.FIELDS if k in context})
        if errors:
            raise ValueError("; ".join(errors))
        answers = {k: v for k, v in context.items() if not k.startswith("_")}
        context["tuned"] = rules.tuning.derive(answers).as_context()
