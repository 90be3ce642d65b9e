"""The one place gosmith reaches into copier's internals, each with a contract test (tests/test_copier_adapter.py).

copier's public API (`run_copy`, `run_update`) covers everything gosmith does; these context
managers only change how it looks and how fast it runs, never what it writes:

- `readable_prompts`: copier has no hook for its interactive validators; this wraps the questionary
  prompt function copier's `_main` module calls (`unsafe_prompt`) so a long validation reason is
  shown in full above the prompt.
- `no_git_index_sync`: skips `Worker._sync_git_index_executable_bit` (one `git config` subprocess per
  rendered file, a no-op for files git does not track yet) while a *new* project renders.
- `reuse_compiled_strings`: compiles each Jinja string once (a jinja2 method, not copier's).
- `reuse_render_answers`: while files render, the answers are final: copier still rebuilds them (all
  answers merged, and the ones the answers file remembers) for each of the ~1,000 strings it renders;
  they are computed once per worker in the render phase.
- `libyaml_config`: copier parses copier.yml with PyYAML's pure-Python loader (a sixth of a run);
  libyaml's loader (PyYAML's C binding, when installed) reads the same data several times faster.
- `skip_prompt_imports`: a run that asks nothing (`--defaults`, no terminal) does not import the
  prompt libraries copier imports at its top (questionary, prompt_toolkit: a sixth of such a run);
  copier gets stand-ins for the three names it takes from them.
- `no_bundle_probe`: copier asks git whether the template path is a git bundle (a `git init` in a
  temporary directory, then `git bundle verify`); gosmith renders a directory, which never is one.
- `plain_progress`: copier colours its progress lines (`create go.mod`) whatever the stream is, and
  names the template version it reads from git (None for the exported tree gosmith renders): the
  colours follow whether stderr is a terminal and `NO_COLOR`, the version line names the real version.

Each one checks that the name it patches exists and otherwise does nothing, so a copier release
that moves them costs speed or prompt width, never correctness; the contract test fails on such a
release, and pyproject pins copier to the tested minor version.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

#: The prefix copier puts before a validator's message.
COPIER_PREFIX = re.compile(r"^Validation error for question '[^']*': ")

def _explaining(validate: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wrap a questionary validator: shorter toolbar text, and the full reason above the prompt when cut.

    prompt_toolkit shows a validation error in a toolbar exactly one terminal line high, so a longer
    reason is cut at the terminal width. The wrapper drops copier's "Validation error for question
    'x': " prefix (the reason names the field itself) and, when the reason is still wider than the
    terminal, prints it in full above the re-asked prompt (once per distinct reason).
    """
    shown: set[str] = set()

    def wrapped(answer: str) -> Any:
        verdict = validate(answer)
        if not isinstance(verdict, str):
            return verdict
        message = COPIER_PREFIX.sub("", verdict)
        if len(message) >= shutil.get_terminal_size().columns and message not in shown:
            shown.add(message)
            from prompt_toolkit.application import run_in_terminal

            run_in_terminal(lambda: print(f"error: {message}", flush=True))
        return message

    return wrapped


@contextlib.contextmanager
def readable_prompts() -> Iterator[None]:
    """While copier asks questions: validate text answers on Enter, with the full reason visible."""
    import copier._main as copier_main

    original = getattr(copier_main, "unsafe_prompt", None)
    if original is None:
        yield
        return

    def prompt(questions: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        for question in questions:
            validate = question.get("validate")
            if callable(validate):
                question["validate"] = _explaining(validate)
                if question.get("type") == "input":
                    question.setdefault("validate_while_typing", False)
        return original(questions, *args, **kwargs)

    copier_main.unsafe_prompt = prompt  # type: ignore[assignment]
    try:
        yield
    finally:
        copier_main.unsafe_prompt = original


@contextlib.contextmanager
def no_git_index_sync() -> Iterator[None]:
    """Skip copier's executable-bit sync with the destination's git index while a new project renders.

    copier runs `git config core.fileMode` (and more) in the destination once per rendered file; it
    changes nothing for files git does not track yet (copier's own docstring), and every file of a
    new project is new: here it only cost one subprocess per file, most of `gosmith new`'s run time.
    """
    import copier._main as copier_main

    worker = getattr(copier_main, "Worker", None)
    name = "_sync_git_index_executable_bit"
    if worker is None or not hasattr(worker, name):
        yield
        return
    original = getattr(worker, name)
    setattr(worker, name, lambda *_args, **_kwargs: None)
    try:
        yield
    finally:
        setattr(worker, name, original)


class _Literal:
    """A template without Jinja syntax: rendering it gives its source, whatever the context."""

    def __init__(self, source: str) -> None:
        self.source = source

    def render(self, *_args: Any, **_kwargs: Any) -> str:
        return self.source


def _is_literal(env: Any, source: str) -> bool:
    """Return whether Jinja would render `source` unchanged in `env` (no delimiter, no line statement)."""
    if getattr(env, "line_statement_prefix", None) or getattr(env, "line_comment_prefix", None):
        return False
    if source.endswith("\n") and not getattr(env, "keep_trailing_newline", False):
        return False  # Jinja drops one trailing newline then
    starts = (env.block_start_string, env.variable_start_string, env.comment_start_string)
    return not any(start in source for start in starts)


def _environment_key(env: Any) -> str:
    """Return what, besides the source, decides the code Jinja compiles a string to in `env`."""
    settings = [type(env).__module__, type(env).__qualname__, *(
        repr(getattr(env, name, None)) for name in (
            "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
            "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
            "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized",
            "autoescape")), *sorted(getattr(env, "extensions", {}))]
    return "\0".join(settings)


def _from_bytecode_cache(env: Any, source: str, compile_string: Callable[[Any, str], Any]) -> Any:
    """Return `env.from_string(source)`, its compiled code kept in the environment's bytecode cache, if any.

    Jinja's bytecode cache serves templates loaded by name (the template's files) only; a string is
    compiled again in every process. The template's extension gives copier's environment a
    FileSystemBytecodeCache (recorded.jinja_cache): strings go there too, under a name derived from
    the environment's compile settings and the source, checked against the source like a file.
    """
    cache = getattr(env, "bytecode_cache", None)
    if cache is None:
        return compile_string(env, source)
    import hashlib

    name = "gosmith-string-" + hashlib.sha256(f"{_environment_key(env)}\0{source}".encode()).hexdigest()
    bucket = cache.get_bucket(env, name, None, source)
    if bucket.code is None:
        bucket.code = env.compile(source)
        cache.set_bucket(bucket)
    return env.template_class.from_code(env, bucket.code, env.make_globals(None), None)


@contextlib.contextmanager
def reuse_compiled_strings() -> Iterator[None]:
    """Compile each Jinja string once while a project renders, and plain strings never.

    copier compiles every file-name part and string it renders with `Environment.from_string`, again
    for each file (the answers-file path alone hundreds of times): about a thousand compilations of a
    few dozen distinct strings. A compiled template renders any context, so the same source and
    environment can share one. Most parts (`internal`, `server`, `handler.go`) hold no Jinja at all:
    they render to themselves, without a compile or a render context.
    """
    import jinja2

    original = jinja2.Environment.from_string
    compiled: dict[tuple[int, str], tuple[Any, Any]] = {}

    def from_string(self: Any, source: Any, globals: Any = None, template_class: Any = None) -> Any:
        if globals is not None or template_class is not None or not isinstance(source, str):
            return original(self, source, globals, template_class)
        if _is_literal(self, source):
            return _Literal(source)
        key = (id(self), source)
        if key not in compiled:
            # keeps self alive: its id stays unique
            compiled[key] = (self, _from_bytecode_cache(self, source, original))
        return compiled[key][1]

    jinja2.Environment.from_string = from_string  # type: ignore[method-assign]
    try:
        yield
    finally:
        jinja2.Environment.from_string = original  # type: ignore[method-assign]


def colour_wanted(stream: Any) -> bool:
    """Return whether to colour text for `stream`: a terminal, and no `NO_COLOR` (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextlib.contextmanager
def plain_progress(version: Any) -> Iterator[None]:
    """While copier renders: its progress lines coloured only on a terminal, its version line naming `version`.

    copier's `Style` holds colorama's escape codes, printed to any stream (a file, a pipe); an empty
    code prints the line plain. copier reads the template version from the template's git repository,
    which the exported tree gosmith renders does not have: it printed "Copying from template version None".
    """
    import copier._template as copier_template
    import copier._tools as copier_tools

    style = getattr(copier_tools, "Style", None)
    names = ("OK", "WARNING", "IGNORE", "DANGER", "RESET")
    saved = {name: getattr(style, name) for name in names if hasattr(style, name)}
    template = getattr(copier_template, "Template", None)
    original_version = template.__dict__.get("version") if template is not None else None
    if saved and not colour_wanted(sys.stderr):
        for name in saved:
            setattr(style, name, [""])
    if original_version is not None and version is not None:
        template.version = property(lambda _self: version)  # type: ignore[union-attr]
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(style, name, value)
        if original_version is not None and version is not None:
            template.version = original_version  # type: ignore[union-attr]


@contextlib.contextmanager
def reuse_render_answers() -> Iterator[None]:
    """While a project renders (copier's RENDER phase): merge the answers once per worker, not per string.

    copier's `_render_context` runs for every path part and string it renders and rebuilds
    `AnswersMap.combined` and `Worker._answers_to_remember` each time, although no answer changes
    after the questions. Both are read only (unpacked into a new context, iterated); outside the
    render phase they are computed as before.
    """
    import copier._main as copier_main
    import copier._types as copier_types
    import copier._user_data as copier_user_data

    worker = getattr(copier_main, "Worker", None)
    answers_map = getattr(copier_user_data, "AnswersMap", None)
    phase = getattr(copier_types, "Phase", None)
    remember = getattr(worker, "_answers_to_remember", None)
    combined = answers_map.__dict__.get("combined") if answers_map is not None else None
    if (worker is None or answers_map is None or remember is None or not isinstance(combined, property)
            or combined.fget is None or phase is None):
        yield
        return
    cache: dict[tuple[str, int], tuple[Any, Any]] = {}

    def once(kind: str, compute: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def cached(self: Any) -> Any:
            if phase.current() != phase.RENDER:
                return compute(self)
            key = (kind, id(self))
            if key not in cache:
                cache[key] = (self, compute(self))  # keeps self alive: its id stays unique
            return cache[key][1]

        return cached

    worker._answers_to_remember = once("remember", remember)
    answers_map.combined = property(once("combined", combined.fget))
    try:
        yield
    finally:
        worker._answers_to_remember = remember
        answers_map.combined = combined


@contextlib.contextmanager
def libyaml_config() -> Iterator[None]:
    """While copier loads copier.yml: its loader (`class _Loader(yaml.SafeLoader)`) on libyaml's CSafeLoader.

    copier's `_template` module reads the loader base as `yaml.SafeLoader` when it loads the file;
    for that module only, `yaml` is a view of PyYAML whose SafeLoader is CSafeLoader. Without
    libyaml nothing changes.
    """
    import copier._template as copier_template
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None or getattr(copier_template, "yaml", None) is not yaml:
        yield
        return
    view = types.ModuleType("yaml")
    view.__dict__.update(yaml.__dict__)
    view.SafeLoader = fast  # type: ignore[attr-defined]
    copier_template.yaml = view
    try:
        yield
    finally:
        copier_template.yaml = yaml


class _Choice:
    """questionary's `Choice` as copier uses it when nothing is asked: title, value, disabled, checked."""

    def __init__(self, title: Any, value: Any = None, disabled: str | None = None, checked: bool | None = False,
                 shortcut_key: str | bool | None = True, description: str | None = None) -> None:
        self.title = title
        self.disabled = disabled
        self.checked = checked if checked is not None else False
        self.shortcut_key = shortcut_key
        self.description = description
        if value is not None:
            self.value = value
        elif isinstance(title, list):
            self.value = "".join(token[1] for token in title)
        else:
            self.value = title


def _never_asked(*_args: Any, **_kwargs: Any) -> Any:
    """Stand-in of a prompt function in a run that asks nothing (copier calls them only without defaults)."""
    raise RuntimeError("gosmith: copier asked a question in a run started without prompts (a gosmith bug)")


#: The names copier imports from its prompt libraries at its top, per module.
_PROMPT_STAND_INS: dict[str, dict[str, Any]] = {
    "questionary": {"confirm": _never_asked, "unsafe_prompt": _never_asked, "Choice": _Choice},
    "questionary.prompts": {},
    "questionary.prompts.common": {"Choice": _Choice},
    "prompt_toolkit": {},
    "prompt_toolkit.lexers": {"PygmentsLexer": _never_asked},
}


def skip_prompt_imports() -> bool:
    """Before copier is first imported, in a run that asks nothing: stand-ins for its prompt libraries.

    copier imports questionary and prompt_toolkit at its top (a sixth of a `gosmith new --defaults`
    run) and uses them only to ask; with defaults it builds `Choice` objects to check choices, which
    the stand-in builds as questionary does. Returns False (and changes nothing) when copier or a prompt
    library is imported already: that process may ask.
    """
    if any(name in sys.modules for name in ("copier", *_PROMPT_STAND_INS)):
        return False
    for name, attributes in _PROMPT_STAND_INS.items():
        module = types.ModuleType(name, "gosmith stand-in: nothing is asked in this run")
        module.__dict__.update(attributes)
        sys.modules[name] = module
    return True


@contextlib.contextmanager
def no_bundle_probe() -> Iterator[None]:
    """While copier resolves the template: a directory is not a git bundle, said without running git.

    copier's `is_git_bundle` creates a temporary repository (`git init`) and runs `git bundle verify`
    on the path: two git processes and a directory tree to delete, for the directory gosmith renders
    from, which a bundle (a file) never is. Paths that are not directories are probed as before.
    """
    import copier._vcs as copier_vcs

    original = getattr(copier_vcs, "is_git_bundle", None)
    if original is None:
        yield
        return

    def is_git_bundle(path: Any) -> bool:
        return False if os.path.isdir(os.path.expanduser(str(path))) else bool(original(path))

    copier_vcs.is_git_bundle = is_git_bundle
    try:
        yield
    finally:
        copier_vcs.is_git_bundle = original

