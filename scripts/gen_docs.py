"""Generate the parts of the docs that must not drift: the reference pages, and facts from a real render.

Used two ways:

* as a script: `python scripts/gen_docs.py` writes the reference pages (`answers.md`, `settings.md`,
  `cli.md`, `doctor-rules.md`) into docs/, where they are committed so the repository reads complete
  without building the site; `--check` only reports the pages that differ (tests/test_docs.py fails
  when a committed page drifts from its sources);
* as an mkdocs hook (`hooks: [scripts/gen_docs.py]` in mkdocs.yml): fills `<!-- gosmith:... -->`
  placeholders in the hand-written pages at build time.

Placeholders (each replaced by content computed from `gosmith new my-service --defaults` or the sources):

* `<!-- gosmith:tree -->` the file tree of the generated project;
* `<!-- gosmith:values KEY -->` a table of the Helm values under KEY (path, default, `# --` description);
* `<!-- gosmith:file PATH -->` a rendered file of the generated project, verbatim in a code block;
* `<!-- gosmith:go_versions -->` the Go versions the template supports (e.g. "1.26 to 1.27"), inline;
* `<!-- gosmith:timeline -->` the shutdown sequence (mermaid gantt chart and table) with the generated settings.
"""

from __future__ import annotations

import argparse
import atexit
import inspect
import re
import shutil
import sys
import tempfile
import textwrap
import typing
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Name of the sample service rendered for the docs (the quickstart uses the same name).
SAMPLE_NAME = "my-service"
_PLACEHOLDER = re.compile(r"<!--\s*gosmith:(\w+)\s*([^>]*?)\s*-->")
_SECTION = re.compile(r"^# --- ([A-Z][A-Z &/]*?)\s*-*\s*$")
_QUESTION = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):")
_CHECK_CALL = re.compile(r"gosmith_check\(\s*['\"](\w+)['\"]")

if str(ROOT / "src") not in sys.path:  # gosmith from this checkout, also when mkdocs loads this file as a hook
    sys.path.insert(0, str(ROOT / "src"))


# ----------------------------------------------------------------------------- helpers
def _rules(root: Path = ROOT) -> Any:
    """Return the rules (hooks/) of the template at `root`, loaded the one way gosmith and copier load them
    (gosmith.template.rules: a module name unique to the path, so copier's own copy never collides)."""
    from gosmith.template import rules

    return rules(root)


def _cell(text: object) -> str:
    """Return `text` safe for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _code(text: object) -> str:
    """Return `text` as an inline code span that survives backticks and table pipes."""
    s = str(text).replace("|", "\\|")
    fence = "``" if "`" in s else "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _yaml_inline(value: object) -> str:
    """Return `value` as one line of YAML flow style (how it would be written in an answers file)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value and value == value.strip() else f'"{value}"'
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


# ----------------------------------------------------------------------------- answers reference
def questions(root: Path = ROOT) -> list[tuple[str, str, dict[str, Any]]]:
    """Return `(section, name, spec)` for every question of copier.yml, in file order."""
    path = root / "copier.yml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: list[tuple[str, str, dict[str, Any]]] = []
    section = "GENERAL"
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _SECTION.match(line):
            section = m.group(1).strip()
        elif (m := _QUESTION.match(line)) and not m.group(1).startswith("_") and m.group(1) in spec:
            q = spec[m.group(1)]
            out.append((section, m.group(1), q if isinstance(q, dict) else {"default": q}))
    return out


def _rule_text(field: str) -> str:
    """Return a sentence describing the pure rule behind `gosmith_check(field)`, with an example rejection."""
    validate = _rules().validate
    rule = validate.FIELDS.get(field)
    if rule is None:
        return "no single-field rule (accepted as given)"
    doc = inspect.getdoc(rule)
    if doc is None and rule.__name__ == "<lambda>":
        # `lambda v: port(v, "http_port")`: describe the function the lambda calls.
        for name in rule.__code__.co_names:
            target = rule.__globals__.get(name)
            if callable(target) and inspect.getdoc(target):
                doc = inspect.getdoc(target)
                break
    parts = []
    if doc:
        first = doc.splitlines()[0].rstrip(".")
        first = re.sub(r"^Return why `value` (is|are) not ", "must be ", first)
        first = re.sub(r"^Return why ", "rejects when ", first)
        parts.append(first)
    # Show what the rule says about a few bad inputs (wrong type, negative, huge, empty): the
    # messages name the accepted range or format.
    seen: set[str] = set()
    for probe in ("?", "-1", "999999999", ""):
        try:
            msg = rule(probe)
        except Exception:  # a rule that raises on odd input still documents itself by its docstring
            continue
        shape = msg.replace(repr(probe), "X") if repr(probe) in msg else msg.replace(probe, "X") if probe else msg
        if msg and shape not in seen:
            seen.add(shape)
            parts.append(f"`{probe or '(empty)'}` is rejected: “{msg}”")
    return "; ".join(parts)


def answers_markdown(root: Path = ROOT) -> str:
    """Return the answers reference page: every copier.yml question with type, default, help and validator."""
    qs = questions(root)
    lines = [
        "# Answers reference",
        "",
        "Every question `gosmith new` (and `copier copy`) asks, generated from `copier.yml` by",
        "`scripts/gen_docs.py` (a test fails when this page drifts from the template). Pass answers with",
        "`--data key=value`, an",
        "`--answers-file` (YAML `question: value`), or interactively. Defaults written as `{{ ... }}` are",
        "Jinja expressions evaluated against earlier answers. Each answer is validated on its own as listed",
        "below; combinations of the resource and timing answers (a grace period too short for the drain and",
        "shutdown it must hold, for example) are checked by the [tuning rules](tuning.md) before anything is written.",
        "",
        f"{len(qs)} questions:",
        "",
        "| Question | Section | Type | Default |",
        "| --- | --- | --- | --- |",
    ]
    for section, name, q in qs:
        default = _yaml_inline(q.get("default"))
        shown = "computed from earlier answers" if "{%" in default else _code(default)
        lines.append(
            f"| [{_code(name)}](#{name}) | {_cell(section.capitalize())} | {_cell(q.get('type', 'yaml'))} | {shown} |"
        )
    current = None
    for section, name, q in qs:
        if section != current:
            current = section
            lines += ["", f"## {section.capitalize()}", ""]
        lines += [f"### `{name}` {{ #{name} }}", ""]
        if q.get("help"):
            lines += [str(q["help"]).strip(), ""]
        rows = [("Type", _code(q.get("type", "yaml")) + (" (several choices)" if q.get("multiselect") else ""))]
        rows.append(("Default", _code(_yaml_inline(q.get("default")))))
        if "choices" in q:
            choices = q["choices"]
            items = choices.items() if isinstance(choices, dict) else [(c, c) for c in choices]
            rows.append(("Choices", ", ".join(_code(_yaml_inline(v)) for _, v in items)))
        if "when" in q:
            when = q["when"]
            rows.append(("Asked", "never (computed)" if when is False else f"when {_code(when)}"))
        if q.get("secret"):
            rows.append(("Secret", "yes (not stored in the answers file)"))
        validator = q.get("validator")
        if validator:
            rules = [f"{_code(f)}: {_cell(_rule_text(f))}" for f in _CHECK_CALL.findall(str(validator))]
            rows.append(("Validation", "<br>".join(rules) if rules else "inline rule, below"))
        else:
            rows.append(("Validation", "none (any value of the type is accepted)"))
        lines += ["| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows], ""]
        if validator:
            lines += [
                '??? note "Validator expression"',
                "",
                "    ```jinja",
                *[f"    {ln}" for ln in str(validator).strip().splitlines()],
                "    ```",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- settings reference
def _limit_text(low: Any, high: Any, unit: str) -> str:
    """Return a range like `1024-65535`, `>= 4096 bytes` or `any` from optional bounds."""
    fmt = _rules().settings.fmt
    if low is not None and high is not None:
        return f"{fmt(low)}-{fmt(high)}{unit}"
    if low is not None:
        return f">= {fmt(low)}{unit}"
    return "any"


def settings_markdown(root: Path = ROOT) -> str:
    """Return the settings reference: every row of the rule table (hooks/settings.py) and where it surfaces."""
    table = _rules(root).settings
    lines = [
        "# Settings reference",
        "",
        "Every setting gosmith knows, generated from its one rule table (`hooks/settings.py`) by",
        "`scripts/gen_docs.py` (a test fails when this page drifts). The same table drives the answer",
        "validators (`gosmith new`, `gosmith update`, copier),",
        "`gosmith tune`, and is compared by tests with the chart's `values.schema.json` and the Go",
        "configuration's validation, so the limits below hold everywhere unless a deliberate difference",
        "is listed at the end with its reason. See the [answers reference](answers.md) for each question's",
        "help text and the [tuning rules](tuning.md) for how derived values are computed.",
        "",
        "Several surfaces are written from the rows by `scripts/gen_surfaces.py` (`make generate`; a test",
        "fails with the diff when a committed file drifts): copier.yml's questions (help texts take their",
        "numbers from the row); for the derived durations the Go `Durations` struct with its env",
        "loading and range checks (`internal/config/durations.go`), the chart's `timeouts` values with",
        "their helm-docs comments, their `values.schema.json` node, the Deployment's env entries and the",
        "invariants' key lists; for the app listener's run-time limits (`MAX_HEADER_BYTES`,",
        "`MAX_BODY_BYTES`) the Go `Requests` struct (`internal/config/requests.go`), the chart's `app`",
        "values, schema properties and env entries; the generated README's env rows; `gosmith tune`'s",
        "options; `gosmith doctor`'s service-timing inputs (rows with a doctor label: flags, config keys,",
        "annotations, env names); and the generated parts of [tuning](tuning.md). A new setting is one row",
        "here, its formula in `hooks/tuning.py` when it is derived, the Go code that uses it, and tests;",
        "`make generate` writes the rest (`MAX_BODY_BYTES` was added exactly so). The Go settings whose",
        "reading has more to it than a row (`LOG_LEVEL` in the hot-reloadable `Settings`, the",
        "`kubernetes_client` flavors' `KUBE_*`, `WATCH_*` and `LEADER_ELECT` with their namespace fallbacks",
        "and leader-election rules) keep hand-written loading, but their defaults and limits are a generated",
        "const block in the file that reads them; the runtime answers (`GOMAXPROCS_POLICY`,",
        "`GOMEMLIMIT_RATIO`) default to the answer, and `internal/limits` is compared with their rows by tests.",
        "",
        "| Setting | Type | Default | Allowed | Answer | `tune` option | Helm values | Env | Go field |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for st in table.SETTINGS:
        if st.choices:
            allowed = ", ".join(_code(c) for c in st.choices)
        elif st.type == "version":
            allowed = st.range_text()
        elif st.type in ("int", "number"):
            allowed = _limit_text(st.minimum, st.maximum, st.unit)
        elif st.type in ("cpu", "memory"):
            allowed = f"Kubernetes {st.type} quantity" + (" or empty" if st.optional else "")
        elif st.type == "duration":
            allowed = "Go duration" + (" (derived)" if st.derived else "")
        else:
            allowed = _cell(st.description if st.rule is None else (inspect.getdoc(st.rule) or "").splitlines()[0]
                            .replace("Return why `value` is not ", ""))
        default = "computed" if st.default is None or "{{" in str(st.default) else _code(_yaml_inline(st.default))
        lines.append(
            f"| {_code(st.name)} | {st.type} | {default} | {allowed} | "
            f"{f'[yes](answers.md#{st.name})' if st.answer else ''} | "
            f"{_code('--' + st.name.replace('_', '-')) if st.tune else ''} | "
            f"{'<br>'.join(_code(v) for v in st.values)} | {_code(st.env) if st.env else ''} | "
            f"{_code(st.go) if st.go else ''} |"
        )
    lines += ["", "## What each setting is", ""]
    for st in table.SETTINGS:
        why = f" Limit: {st.why}." if st.why else ""
        lines.append(f"- {_code(st.name)}: {_cell(st.description)}.{why}")
    lines += [
        "",
        "## Deliberate differences between surfaces",
        "",
        "| Setting | Surface | Allowed there | Table | Why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for st in table.SETTINGS:
        for sf in st.surfaces:
            lines.append(
                f"| {_code(st.name)} | {sf.where} {_code(sf.name)} | {_limit_text(sf.minimum, sf.maximum, st.unit)} | "
                f"{_limit_text(st.minimum, st.maximum, st.unit)} | {_cell(sf.reason)} |"
            )
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- doctor rules reference
def doctor_rules_markdown() -> str:
    """Return the `gosmith doctor` rules reference: every rule of its table (id, what, why, formula, fix)."""
    from gosmith.doctor import config_keys
    from gosmith.doctor_load import ANNOTATION, POD_TEMPLATE
    from gosmith.doctor_rules import (
        GO_ENV,
        GO_RULES,
        LB_DEFAULTS,
        NO_SHELL_IMAGES,
        SERVICE_ENV,
        SHELL_IMAGES,
        rule_table,
    )
    from gosmith.template import rules as template_rules

    native_minor = template_rules().tuning.NATIVE_SIDECAR_KUBE_MINOR

    rules = rule_table()
    lines = [
        "# Doctor rules reference",
        "",
        "`gosmith doctor [PATH|-]` checks the Kubernetes manifests of Go services, generated by gosmith or not,",
        "against the same runtime and timing rules `gosmith new` and `gosmith tune` derive values with",
        "(`hooks/tuning.py`: every formula below is computed there, nowhere else). This page is generated",
        "from the doctor's rule table by `scripts/gen_docs.py` (a test fails when it drifts).",
        "",
        "```sh",
        "gosmith doctor deploy/helm/orders-api -f values-prod.yaml --set replicaCount=3   # a chart (needs helm)",
        "gosmith doctor manifests/                      # every .yaml/.yml/.json below a directory",
        "kustomize build overlays/prod | gosmith doctor - --sarif > doctor.sarif          # stdin, SARIF",
        "```",
        "",
        "Workloads: " + ", ".join(f"`{k}`" for k in POD_TEMPLATE) + " (Argo Rollouts), and `List` objects.",
        "Output: a table grouped by workload (default), `--json`, or `--sarif` (SARIF 2.1.0 for GitHub code",
        "scanning). Exit code: 0 clean, 1 a finding at or above `--fail-on` (`error` by default; `warning`,",
        "`info` or `never`), 2 bad input (not YAML, not Kubernetes objects, empty, binary, a chart that fails to",
        "render, helm missing for a chart), reported as one line.",
        "",
        "| Rule | Severity | What it finds |",
        "| --- | --- | --- |",
    ]
    for r in rules:
        lines.append(f"| [{_code(r.id)}](#{r.id}) | {r.severity} | {_cell(r.title)} |")
    for r in rules:
        lines += [
            "",
            f"## `{r.id}` {{ #{r.id} }}",
            "",
            f"**{_cell(r.title)}** (severity {r.severity})",
            "",
            f"- Why: {_cell(r.why)}",
            f"- Checks: {_code(r.formula)}",
            f"- Fix: {_cell(r.fix)}",
        ]
    lines += [
        "",
        "## Containers, sidecars and which rules apply",
        "",
        "Every regular container of the pod is checked, and so is every native sidecar: an init container with",
        f"`restartPolicy: Always` (Kubernetes >= 1.{native_minor}), which runs beside the service and is stopped only",
        "after the regular containers have exited. Init containers that run to completion are skipped.",
        "",
        "- **The service's own container** is, in this order: the one(s) named by the annotation",
        f"  {_code(ANNOTATION + 'app-container')} (comma-separated) or `--app-container NAME`; the regular containers",
        f"  whose env holds what a gosmith chart sets on its service ({', '.join(_code(e) for e in SERVICE_ENV)});",
        f"  those whose env sets a Go runtime variable ({', '.join(_code(e) for e in GO_ENV)}); the only regular",
        "  container. With several containers and none of these, no container is the service and the report says so.",
        "  The timings from annotations, flags and the config file describe the service: only its container gets",
        "  them; a sidecar's timings come from its own env and preStop hook.",
        "- **The Go runtime rules** (" + ", ".join(f"[{_code(r)}](#{r})" for r in GO_RULES) + ") apply only to",
        "  containers known to be Go: the service's, and any container (a sidecar too) whose env sets a Go runtime",
        "  variable. An Envoy or nginx sidecar gets no GOMEMLIMIT advice.",
        "- **The other rules** (grace period, drain, idle timeout, preStop hook, probes, resourceFieldRef divisor)",
        "  apply to every container and native sidecar.",
        "- **The sidecar rules**: a regular container beside the service gets SIGTERM together with it and can",
        "  exit while the service drains ([`legacy-sidecar`](#legacy-sidecar); a regular sidecar that a Service",
        "  sends the pod's requests to must also drain on its own,",
        "  [`sidecar-serves-traffic`](#sidecar-serves-traffic)).",
        "  A native sidecar is stopped after the service, inside the same grace period, which must hold both",
        "  stops ([`sidecar-grace-headroom`](#sidecar-grace-headroom)); its own shutdown time comes from its env",
        f"  `SHUTDOWN_TIMEOUT` or the annotation {_code(ANNOTATION + 'sidecar-shutdown-timeout')}.",
        "",
        "## Facts the manifests do not hold",
        "",
        "The service's own timings are read from its container env first (`DRAIN_DELAY`, `SHUTDOWN_TIMEOUT`,",
        "`TELEMETRY_FLUSH_TIMEOUT`, `IDLE_TIMEOUT`: what a gosmith service reads), then from annotations on the",
        "pod template or the workload, then from flags or a `--config` YAML file whose keys are the flag names",
        f"({', '.join(_code(k) for k in config_keys())}). Durations are Go durations (`15s`, `1m30s`) or seconds.",
        "A rule whose inputs are unknown is not applied; the report lists what it could not check.",
        "",
        "| Annotation | Meaning | Flag |",
        "| --- | --- | --- |",
    ]
    for name, meaning, flag in (
        ("drain-delay", "time the service keeps serving after SIGTERM", "--drain-delay"),
        ("shutdown-timeout", "bound of the graceful shutdown", "--shutdown-timeout"),
        ("telemetry-flush-timeout", "bound of the final telemetry flush", "--telemetry-flush-timeout"),
        ("idle-timeout", "keep-alive idle timeout of the service", "--idle-timeout"),
        ("go-version", "Go version the service is built with (e.g. `1.24`)", "--go-version"),
        ("app-container", "comma-separated names of the service's own container(s) in a pod with several",
         "--app-container"),
        ("sidecar-shutdown-timeout", "bound of a native sidecar's own shutdown (when its env does not say)", ""),
        ("image-shell", "`true` or `false`: whether the image has a shell",
         "--image-with-shell / --image-without-shell"),
        ("lb-idle-timeout", "on a Service or Ingress: idle timeout of its load balancer", "--lb-idle-timeout"),
        ("ignore", "comma-separated rule ids not to report for this workload", ""),
    ):
        lines.append(f"| {_code(ANNOTATION + name)} | {meaning} | {_code(flag) if flag else ''} |")
    lines += [
        "",
        "## Load balancers",
        "",
        "A Service selecting the pods, an Ingress routing to it, or a Service of type LoadBalancer with a",
        "recognised controller puts a proxy in front of the workload. The documented idle timeouts used when no",
        "annotation sets one (override with `--lb-idle KIND=SECONDS`; `--lb-idle-timeout` adds a load balancer",
        "in front of every workload):",
        "",
        "| Kind | Idle timeout | Recognised by |",
        "| --- | --- | --- |",
    ]
    for kind, (seconds, text) in LB_DEFAULTS.items():
        lines.append(f"| {_code(kind)} | {seconds} s | {_cell(text)} |")
    lines += [
        "",
        "## Images without a shell",
        "",
        "Image references matching " + ", ".join(_code(p) for p in NO_SHELL_IMAGES) + " have no shell, except",
        "those matching " + ", ".join(_code(p) for p in SHELL_IMAGES) + " (the debug and dev variants).",
        "An image built on distroless under your own name is not recognised: pass",
        "`--image-without-shell 'ghcr.io/acme/*'` or annotate the pod template `gosmith.dev/image-shell: \"false\"`.",
    ]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- CLI reference
def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Return `(command path, click command)` for `cmd` and every subcommand, depth first."""
    out = [(path, cmd)]
    if getattr(cmd, "commands", None):
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            if not getattr(sub, "hidden", False):
                out += _walk(sub, [*path, name])
    return out


def cli_commands() -> list[tuple[str, Any]]:
    """Return `(full command name, click command)` for the gosmith CLI and all its subcommands."""
    import typer

    from gosmith.cli import app

    root = typer.main.get_command(app)
    return [(" ".join(p), c) for p, c in _walk(root, ["gosmith"])]


def _type_name(p: Any) -> str:
    """Return a short type name of a click/typer parameter (e.g. TEXT, PATH, INTEGER)."""
    t = getattr(p, "type", None)
    if t is not None and getattr(t, "name", None):
        return str(t.name).upper()
    desc = getattr(p, "type_descriptor", None)
    ann = getattr(desc, "annotation", None)
    while typing.get_args(ann):
        ann = next((a for a in typing.get_args(ann) if a is not type(None)), None)
    names = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN", "Path": "PATH"}
    name = getattr(ann, "__name__", "") or str(ann or "")
    return names.get(name, name.upper() or "TEXT")


def _param_rows(cmd: Any) -> tuple[list[str], list[str]]:
    """Return the Markdown table rows of the arguments and of the options of `cmd`."""
    args, opts = [], []
    for p in cmd.params:
        if getattr(p, "hidden", False):
            continue
        help_text = _cell(getattr(p, "help", "") or "")
        if p.param_type_name == "argument":
            name = (p.metavar or p.name or "").upper()
            req = "required" if p.required else "optional"
            args.append(f"| {_code(name)} | {_type_name(p)} | {req} | {help_text} |")
            continue
        names = ", ".join(_code(o) for o in [*p.opts, *p.secondary_opts])
        if getattr(p, "is_flag", False):
            kind = "flag"
        else:
            kind = p.metavar or _type_name(p)
            if p.multiple:
                kind += " (repeatable)"
        default = p.default
        if callable(default) or default is None or default == () or default is False:
            shown = "" if p.required else "—"
        else:
            shown = _code(default)
        if p.required:
            shown = "required"
        opts.append(f"| {names} | {_cell(kind)} | {shown} | {help_text} |")
    return args, opts


def _usage_pieces(cmd: Any) -> list[str]:
    """Return the usage line pieces of `cmd` after its name: [OPTIONS], arguments, COMMAND."""
    pieces = ["[OPTIONS]"] if any(p.param_type_name == "option" for p in cmd.params) else []
    for p in cmd.params:
        if p.param_type_name == "argument":
            name = (p.metavar or p.name or "").upper() + ("..." if p.nargs == -1 or p.multiple else "")
            pieces.append(name if p.required else f"[{name}]")
    if getattr(cmd, "commands", None):
        pieces.append("COMMAND [ARGS]...")
    return pieces


def cli_markdown() -> str:
    """Return the CLI reference page generated from the typer app's click command tree."""
    lines = [
        "# CLI reference",
        "",
        "Generated from the `gosmith` command tree by `scripts/gen_docs.py` (`gosmith COMMAND --help` prints",
        "the same; a test fails when this page drifts). A problem you can fix (bad input, a refused",
        "operation) prints one `error:` line on stderr and exits non-zero; usage errors exit 2. Ctrl-C",
        "prints `error: aborted, nothing written` and exits 130 from the first statement of gosmith's entry",
        "module on; in the few milliseconds before it (the interpreter starting, before any of gosmith's",
        "code runs) Python handles Ctrl-C itself.",
        "",
    ]
    for full, cmd in cli_commands():
        usage = " ".join([full, *_usage_pieces(cmd)])
        lines += [f"## `{full}`", ""]
        if cmd.help:
            lines += [inspect.cleandoc(cmd.help).replace("\b\n", ""), ""]
        lines += ["```text", usage, "```", ""]
        args, opts = _param_rows(cmd)
        if args:
            lines += ["| Argument | Type | | Description |", "| --- | --- | --- | --- |", *args, ""]
        if opts:
            lines += ["| Option | Value | Default | Description |", "| --- | --- | --- | --- |", *opts, ""]
        if getattr(cmd, "commands", None):
            lines += ["| Command | Summary |", "| --- | --- |"]
            for name in sorted(cmd.commands):
                sub = cmd.commands[name]
                lines.append(f"| [`{name}`](#{full.replace(' ', '-')}-{name}) | {_cell(sub.get_short_help_str(200))} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- facts from a real render
_SAMPLE: dict[str, Path] = {}


def sample_project() -> Path:
    """Render `gosmith new my-service --defaults` once per process and return the project directory."""
    if "dir" not in _SAMPLE:
        from gosmith.generate import NewRequest, new

        tmp = Path(tempfile.mkdtemp(prefix="gosmith-docs-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        _SAMPLE["dir"] = new(NewRequest(name=SAMPLE_NAME, output=tmp / SAMPLE_NAME, defaults=True))
    return _SAMPLE["dir"]


def tree_markdown(project: Path) -> str:
    """Return the file tree of `project` as a text code block (like `tree -a`)."""
    lines = [f"{project.name}/"]

    def walk(d: Path, prefix: str) -> None:
        entries = sorted(d.iterdir(), key=lambda p: p.name)
        for i, e in enumerate(entries):
            last = i == len(entries) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{e.name}{'/' if e.is_dir() else ''}")
            if e.is_dir():
                walk(e, prefix + ("    " if last else "│   "))

    walk(project, "")
    return "```text\n" + "\n".join(lines) + "\n```"


def values_knobs(values_file: Path, key: str) -> str:
    """Return a Markdown table of every value under `key` in a helm-docs commented values.yaml."""
    text = values_file.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    rows: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending:
            pending.append(stripped[1:].strip())
            continue
        m = re.match(r"^([A-Za-z0-9_.\-\"']+):", stripped)
        if not m or stripped.startswith("- "):
            if stripped:
                pending = []
            continue
        name = m.group(1).strip("\"'")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, name))
        path = ".".join(n for _, n in stack)
        if pending and (path == key or path.startswith(key + ".")):
            rows.append((path, " ".join(pending)))
        pending = []
    if not rows:
        raise ValueError(f"{values_file.name}: no `# --` documented values under {key!r}")
    out = ["| Value | Default | Description |", "| --- | --- | --- |"]
    for path, desc in rows:
        node: Any = data
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out.append(f"| {_code(path)} | {_code(_yaml_inline(node))} | {_cell(desc)} |")
    return "\n".join(out)


def file_block(project: Path, rel: str) -> str:
    """Return the rendered file `rel` of `project` in a fenced code block."""
    path = project / rel
    if not path.is_file():
        raise ValueError(f"the generated project has no {rel}")
    lang = {".yaml": "yaml", ".yml": "yaml", ".go": "go", ".json": "json"}.get(path.suffix, "text")
    if path.name in {"Makefile", "Dockerfile"}:
        lang = path.name.lower()
    return f"```{lang}\n{path.read_text(encoding='utf-8').rstrip()}\n```"


def _go_ms(d: object) -> int:
    """Return a Go duration string of the forms the template writes ("15s", "9500ms", "1m5s") in ms."""
    total, text = 0.0, str(d)
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(num) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[unit]
    if not re.fullmatch(r"((\d+(\.\d+)?)(ms|s|m|h))+|0", text):
        raise ValueError(f"not a Go duration: {text!r}")
    return int(total)


def _sec(ms: int) -> str:
    """Return milliseconds as seconds without a trailing .0 (e.g. 9.5 s, 15 s)."""
    return f"{ms / 1000:g} s"


def timeline(project: Path) -> str:
    """Return a mermaid gantt chart and a table of the shutdown sequence with the project's settings."""
    values = yaml.safe_load((project / "deploy" / "helm" / SAMPLE_NAME / "values.yaml").read_text(encoding="utf-8"))
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    t = values["timeouts"]
    drain, shutdown, flush = _go_ms(t["drainDelay"]), _go_ms(t["shutdown"]), _go_ms(t["telemetryFlush"])
    sleep = int(values.get("preStopSleepSeconds") or 0) * 1000
    grace = int(values["terminationGracePeriodSeconds"]) * 1000
    propagation = int(float(answers.get("endpoint_propagation_seconds", 0)) * 1000)
    wait = sleep or drain
    # Start and end as millisecond timestamps (dateFormat x): mermaid's "15000ms"-style durations are
    # not reliable across versions, fractional seconds never work.
    lines = [
        "```mermaid",
        "gantt",
        "    dateFormat x",
        "    axisFormat %M:%S",
        "    section Kubernetes",
        f"    Endpoints and load balancers stop routing, up to {_sec(propagation)} :k1, 0, {propagation}",
        f"    terminationGracePeriodSeconds {_sec(grace)}, then SIGKILL :k2, 0, {grace}",
        "    section Service",
    ]
    if sleep:
        lines.append(f"    preStop sleep {_sec(sleep)}, then SIGTERM :s0, 0, {sleep}")
    else:
        lines.append(f"    SIGTERM, readyz 503, still serving for DRAIN_DELAY {_sec(drain)} :s1, 0, {drain}")
    lines += [
        f"    In-flight requests finish, up to SHUTDOWN_TIMEOUT {_sec(shutdown)} :s2, {wait}, {wait + shutdown}",
        f"    Flush spans, up to TELEMETRY_FLUSH_TIMEOUT {_sec(flush)}, then exit 0 :s3, {wait + shutdown}, "
        f"{wait + shutdown + flush}",
        "```",
        "",
        "| Phase | Starts at | Lasts at most | Setting |",
        "| --- | --- | --- | --- |",
    ]
    if sleep:
        lines.append(f"| preStop sleep (SIGTERM after it) | 0 s | {_sec(sleep)} | `preStopSleepSeconds` |")
    else:
        lines.append(
            f"| `/readyz` 503, requests still served | 0 s | {_sec(drain)} | `timeouts.drainDelay` (`DRAIN_DELAY`) |"
        )
    lines += [
        f"| `Server.Shutdown`: no new connections, in-flight requests finish | {_sec(wait)} | {_sec(shutdown)} "
        "| `timeouts.shutdown` (`SHUTDOWN_TIMEOUT`) |",
        f"| span flush, log sync, exit | {_sec(wait + shutdown)} (at the latest) | {_sec(flush)} "
        "| `timeouts.telemetryFlush` (`TELEMETRY_FLUSH_TIMEOUT`) |",
        f"| SIGKILL if still running | {_sec(grace)} | | `terminationGracePeriodSeconds` |",
    ]
    return "\n".join(lines)


def fill_placeholders(markdown: str) -> str:
    """Replace every `<!-- gosmith:KIND ARG -->` in `markdown` by generated content."""

    def repl(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2).strip()
        if kind == "go_versions":
            validate = _rules().validate
            return f"1.{validate.MIN_GO_MINOR} to 1.{validate.MAX_GO_MINOR}"
        project = sample_project()
        if kind == "tree":
            return tree_markdown(project)
        if kind == "values":
            return values_knobs(project / "deploy" / "helm" / SAMPLE_NAME / "values.yaml", arg)
        if kind == "timeline":
            return timeline(project)
        if kind == "file":
            return file_block(project, arg.replace("SERVICE", SAMPLE_NAME))
        raise ValueError(f"unknown docs placeholder gosmith:{kind}")

    return _PLACEHOLDER.sub(repl, markdown)


# ----------------------------------------------------------------------------- tuning page
#: The example of docs/tuning.md: `gosmith tune` with these options (the defaults, a CPU and a memory limit).
TUNE_EXAMPLE = {"cpu_request": "250m", "cpu_limit": "500m", "memory_request": "512Mi", "memory_limit": "512Mi"}


def tuning_markdown() -> str:
    """Return docs/tuning.md with its parts that come from the rules rewritten: the `tuned.durations` keys, the
    list of `gosmith tune` options and the example table `gosmith tune` prints (the prose stays as written)."""
    from gosmith.tune import table, tune

    text = (ROOT / "docs" / "tuning.md").read_text(encoding="utf-8")
    settings = _rules().settings
    keys = ", ".join(s.name for s in settings.SETTINGS if s.derived and s.type == "duration")
    text = re.sub(r"^\| `durations\.\{[^}]*\}` \|", f"| `durations.{{{keys}}}` |", text, count=1, flags=re.M)
    flags = []
    for name in settings.TUNE_OPTIONS:
        s = settings.BY_NAME[name]
        flags.append(s.tune_flags or "--" + name.replace("_", "-"))
    listed = ", ".join(f"`{f}`" for f in flags)
    paragraphs = text.split("\n\n")
    for i, para in enumerate(paragraphs):
        flat = " ".join(para.split())
        if "is an option of the same name (" in flat:
            flat = re.sub(r"(is an option of the same name \()[^)]*(\); options override)",
                          lambda m: m[1] + listed + m[2], flat)
            paragraphs[i] = textwrap.fill(flat, width=100, break_long_words=False, break_on_hyphens=False)
    text = "\n\n".join(paragraphs)
    example = table(tune(dict(TUNE_EXAMPLE))).rstrip("\n")
    head, _, rest = text.partition("<!-- tune-example:start -->\n")
    _, _, tail = rest.partition("<!-- tune-example:end -->")
    return f"{head}<!-- tune-example:start -->\n```text\n{example}\n```\n<!-- tune-example:end -->{tail}"


# ----------------------------------------------------------------------------- reference pages, mkdocs hook
#: The reference pages, committed under docs/ (regenerate: python scripts/gen_docs.py); tuning.md is written by
#: hand except for the parts tuning_markdown() rewrites.
GENERATED = {"answers.md": answers_markdown, "settings.md": settings_markdown, "cli.md": cli_markdown,
             "doctor-rules.md": doctor_rules_markdown, "tuning.md": tuning_markdown}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs hook: fill the gosmith placeholders of a page."""
    return fill_placeholders(markdown) if "gosmith:" in markdown else markdown


def stale_pages(docs: Path = ROOT / "docs") -> list[str]:
    """Return the generated reference pages that are missing from `docs` or differ from their sources."""
    return [name for name, make in GENERATED.items()
            if not (docs / name).is_file() or (docs / name).read_text(encoding="utf-8") != make()]


def main(argv: list[str] | None = None) -> int:
    """Write the generated reference pages into docs/ (or another directory); --check only compares."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="directory to write the pages into")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.out)
        for name in stale:
            print(f"{args.out / name}: stale, run python scripts/gen_docs.py", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in GENERATED.items():
        (args.out / name).write_text(make(), encoding="utf-8")
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
