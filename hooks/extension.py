"""The one copier extension module: exposes gosmith's pure rules (hooks/) to the template."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from copier.errors import UserMessageError
from copier_template_extensions import ContextHook
from jinja2.ext import Extension

_HERE = Path(__file__).resolve().parent


def load_rules() -> ModuleType:
    """Import this template's hooks package once per content: copies of the same rules share it, other rules differ.

    gosmith checks the given answers with the rules of its template root and copier renders a copy of
    that template elsewhere: both get the one package; an older template's rules get their own.
    """
    name = "gosmith_hooks_" + _rules_digest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, _HERE / "__init__.py", submodule_search_locations=[str(_HERE)]
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    # every module now, while this copy's directory is surely there: a later copy with the same content
    # (another checkout, a temporary export) gets this package, whose path may be gone by then
    for path in sorted(_HERE.glob("*.py")):
        if path.stem not in ("__init__", "extension"):
            importlib.import_module(f"{name}.{path.stem}")
    return module


class GosmithFilters(Extension):
    """Jinja filters used by copier.yml validators (`settings.copier_validator` writes each call)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        rules = load_rules()
        environment.filters["gosmith_check"] = lambda value, field, **others: rules.settings.check(
            field, value, **others
        )
        cache = os.environ.get(BYTECODE_CACHE_ENV)
        if cache and environment.bytecode_cache is None:
            # Jinja's own compiled-template cache (keyed by template name and source checksum), when
            # gosmith asks for it: the template's large files compile once per machine, not per render.
            from jinja2 import FileSystemBytecodeCache

            Path(cache).mkdir(parents=True, exist_ok=True)
            environment.bytecode_cache = FileSystemBytecodeCache(cache)


#: Environment variable naming a directory for Jinja's bytecode cache (gosmith sets it; plain copier does not).
BYTECODE_CACHE_ENV = "GOSMITH_JINJA_CACHE"


def _shared() -> ModuleType:
    """Return the process-wide record every loaded copy of this extension shares.

    copier loads this file once per template checkout it makes (an update renders three times), each
    under its own module name; the record lets them derive once per answers and rules, and lets
    gosmith read the warnings of the render it asked for.
    """
    shared = sys.modules.get(SHARED_MODULE)
    if shared is None:
        shared = ModuleType(SHARED_MODULE, "Derivations of gosmith's copier extension, shared by its copies.")
        shared.memo = {}  # type: ignore[attr-defined]
        shared.warnings_by_destination = {}  # type: ignore[attr-defined]
        sys.modules[SHARED_MODULE] = shared
    return shared


#: Name of the module `_shared()` keeps in sys.modules (gosmith reads `warnings_by_destination` from it).
SHARED_MODULE = "gosmith_template_evaluations"


@functools.cache
def _rules_digest() -> str:
    """Return a hash of this hooks package's sources: equal rules derive equal values from equal answers."""
    h = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class GosmithContext(ContextHook):
    """Put derived values into the render context on every copy and update."""

    def hook(self, context: dict[str, Any]) -> None:
        if context.get("_copier_phase") in ("prompt", "migrate"):
            # prompt: answers are still being collected (the rules run once, on the complete answers);
            # migrate: copier renders the migration commands without the answers, and they use none
            return
        rules = load_rules()
        # the questions only: a template's own `{% set %}` names and macros are in the context too
        answers = {s.name: context[s.name] for s in rules.settings.ANSWERS if s.name in context}
        shared = _shared()
        key = _rules_digest() + json.dumps(answers, sort_keys=True, default=repr)
        if key not in shared.memo:
            # The one validate-then-derive of a `gosmith new`/`update` (and plain copier) run, the same as
            # `gosmith tune`. Its one-line reason goes out as copier's UserMessageError, which gosmith and
            # the copier CLI print as that line (no traceback).
            try:
                tuning = rules.validate.evaluate(answers)
            except rules.tuning.TuningError as exc:
                raise UserMessageError(str(exc)) from exc
            shared.memo[key] = (tuning, tuning.as_context())
        tuning, tuned = shared.memo[key]
        conf = context.get("_copier_conf")
        try:
            destination = conf["dst_path"]  # type: ignore[index]
        except (TypeError, KeyError):
            destination = getattr(conf, "dst_path", None)
        if destination is not None:
            shared.warnings_by_destination[str(destination)] = list(tuning.warnings)
        context["tuned"] = tuned
