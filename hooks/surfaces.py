"""Text the rule table (settings.py) generates for other files (stdlib only).

copier.yml's questions; for the derived durations, the Go `Durations` struct with its env loading and
range checks, and the chart's `timeouts` values, env entries and invariant key lists.

scripts/gen_surfaces.py writes the files; tests/test_settings.py fails with the diff when a committed
file differs from what the table generates now.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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


# ----------------------------------------------------------------------------- derived durations
GENERATED_BY = "scripts/gen_surfaces.py from the rule table (hooks/settings.py)"


def durations() -> list[st.Setting]:
    """Return the derived duration rows, in table order."""
    return [s for s in st.SETTINGS if s.derived and s.type == "duration"]


def _values_key(s: st.Setting) -> str:
    return s.values[0].split(".", 1)[1]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _go_struct(struct: str, doc: list[str], rows: list[st.Setting], go_type: str, parse: str,
               field_doc: Callable[[st.Setting], str]) -> list[str]:
    """Return the Go lines that close a const block and declare `struct` (a field per row, documented by
    `field_doc`) and the parser method that loads it with `p.<parse>(ENV, default<Field>)`."""
    width = max(len(s.go) for s in rows) + 1
    loader = struct[:1].lower() + struct[1:]
    out = [")", "", *doc, f"type {struct} struct {{"]
    for s in rows:
        out += [f"\t// {field_doc(s)} ({s.env}).", f"\t{s.go} {go_type}"]
    out += ["}", "", f"// {loader} reads every {struct} field from its environment variable.",
            f"func (p *parser) {loader}() {struct} {{", f"\treturn {struct}{{"]
    out += [f'\t\t{(s.go + ":").ljust(width)} p.{parse}("{s.env}", default{s.go}),' for s in rows]
    return [*out, "\t}", "}", ""]


def go_durations() -> str:
    """Return internal/config/durations.go.jinja: defaults, the Durations struct, its loading and checks."""
    rows = durations()
    out = [f"// Code generated by {GENERATED_BY}; DO NOT EDIT.", "", "package config", "",
           "import (", '\t"fmt"', '\t"time"', ")", "",
           "// Durations derived by gosmith's tuning rules from the answers; each comment gives the formula",
           "// and its inputs (`gosmith tune` prints the same table).", "const ("]
    for s in rows:
        out += [f"\t// {{{{ tuned.reasons['durations.{s.name}'] }}}}",
                f'\tdefault{s.go} = "{{{{ tuned.durations.{s.name} }}}}"']
    out += _go_struct("Durations", [
        "// Durations is the service's time budget: server timeouts, drain, shutdown and flush. Config",
        "// embeds it; each field can be overridden at run time with the environment variable named in",
        "// its comment."], rows, "time.Duration", "duration", lambda s: f"{s.go} {_lower_first(s.description)}")
    out += ["// problems returns one error per duration outside its range: every duration must be positive,",
            "// except those where 0s means off, which must not be negative.",
            "func (d Durations) problems() []error {", "\tvar errs []error", "\tfor _, v := range []struct {",
            "\t\tname   string", "\t\tvalue  time.Duration", "\t\tzeroOK bool", "\t}{"]
    out += [f'\t\t{{"{s.env}", d.{s.go}, {"true" if s.zero_ok else "false"}}},' for s in rows]
    out += ["\t} {", "\t\tswitch {", "\t\tcase v.zeroOK && v.value < 0:",
            '\t\t\terrs = append(errs, fmt.Errorf("%s must not be negative, got %s", v.name, v.value))',
            "\t\tcase !v.zeroOK && v.value <= 0:",
            '\t\t\terrs = append(errs, fmt.Errorf("%s must be positive, got %s", v.name, v.value))',
            "\t\t}", "\t}", "\treturn errs", "}"]
    return "\n".join(out) + "\n"


def values_timeouts() -> list[str]:
    """Return the values.yaml.jinja lines of the `timeouts` map (helm-docs comments from the rows)."""
    out = ["timeouts:"]
    for s in durations():
        why = f'{{{{ why(["durations.{s.name}", "{s.name}"]) }}}}'
        out += [f"  # -- {s.env}: {_lower_first(s.description)}.{why}",
                f"  {_values_key(s)}: {{{{ tuned.durations.{s.name} | tojson }}}}"]
    return out


def chart_env() -> list[str]:
    """Return the deployment's env entries of the derived durations."""
    out = []
    for s in durations():
        value = s.chart_value or f".Values.{s.values[0]}"
        out += [f"            - name: {s.env}", f"              value: {{{{ {value} | quote }}}}"]
    return out


def invariant_lists() -> dict[str, str]:
    """Return the `list ...` expressions the chart's invariants iterate: every timeouts key, the positive ones."""
    def words(rows: list[st.Setting]) -> str:
        return "list " + " ".join(f'"{_values_key(s)}"' for s in rows)

    return {"all": words(durations()), "positive": words([s for s in durations() if not s.zero_ok])}


def replace_block(text: str, block: str, body: list[str], comment: str) -> str:
    """Return `text` with the lines between the markers of generated `block` replaced by `body`.

    A marker is a whole line `<indent>{comment.format(...)}` that renders to nothing (a Helm or Jinja comment
    with whitespace trimming); the begin marker names the block and the generator.
    """
    begin = comment.format(f"generated by {GENERATED_BY}: {block}")
    end = comment.format(f"end of generated {block}")
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"expected one {begin!r} ... {end!r} block")
    return "\n".join(lines[: starts[0] + 1] + body + lines[ends[0]:])


JINJA_MARKER = "{{#- {} #}}"
HELM_MARKER = "{{{{- /* {} */}}}}"


def chart_files(values_yaml: str, deployment: str, invariants: str) -> tuple[str, str, str]:
    """Return the chart's values.yaml.jinja, deployment.yaml.jinja and _invariants.tpl.jinja with their
    generated blocks rewritten from the table."""
    lists = invariant_lists()
    return (
        replace_block(replace_block(values_yaml, "timeouts", values_timeouts(), JINJA_MARKER),
                      "app-requests", values_requests(), JINJA_MARKER),
        replace_block(replace_block(deployment, "env", chart_env(), HELM_MARKER),
                      "env-requests", chart_env_requests(), HELM_MARKER),
        replace_block(replace_block(invariants, "timeouts-all", [f"{{{{- range $key := {lists['all']} }}}}"],
                                    HELM_MARKER),
                      "timeouts-positive", [f"{{{{- range $key := {lists['positive']} }}}}"], HELM_MARKER),
    )


def schema_timeouts(schema: str) -> str:
    """Return values.schema.json with its `timeouts` node written from the rows (each a Go duration by pattern)."""
    lines = schema.split("\n")
    start = lines.index('    "timeouts": {')
    end = lines.index("    },", start)
    rows = durations()
    props = [f'        "{_values_key(s)}": {{"$ref": "#/$defs/goDuration", '
             f'"description": {json.dumps(s.env + ": " + _lower_first(s.description))}}}' for s in rows]
    body = ['    "timeouts": {', '      "type": "object",', '      "additionalProperties": false,',
            '      "properties": {', *[p + "," for p in props[:-1]], props[-1], "      },",
            f'      "required": {json.dumps(sorted(_values_key(s) for s in rows))}']
    return "\n".join(lines[:start] + body + lines[end:])


def readme_env_rows() -> list[str]:
    """Return the generated README's env-table rows of the derived durations."""
    return [f"| `{s.env}` | `{{{{ tuned.durations.{s.name} }}}}` | {_lower_first(s.description)} |"
            for s in durations()]


def readme(text: str) -> str:
    """Return the template's README.md.jinja with its generated env-table rows rewritten from the table."""
    return replace_block(replace_block(text, "env-table", readme_env_rows(), JINJA_MARKER),
                         "env-table-requests", readme_request_rows(), JINJA_MARKER)


# ----------------------------------------------------------------------------- request limits
def request_limits() -> list[st.Setting]:
    """Return the run-time integer rows of the app listener (`app.*` values, plain Config fields), in order."""
    return [s for s in st.SETTINGS if s.section == "RUN TIME" and s.type == "int" and s.values
            and s.values[0].startswith("app.") and "." not in s.go]


def go_requests() -> str:
    """Return internal/config/requests.go: defaults, floors, the Requests struct, its loading and checks."""
    rows = request_limits()
    out = [f"// Code generated by {GENERATED_BY}; DO NOT EDIT.", "", "package config", "", 'import "fmt"', "",
           "// Defaults and floors of the request limits, from gosmith's rule table.", "const ("]
    for s in rows:
        out += [f"\t// default{s.go} is the default of {s.env}.", f"\tdefault{s.go} = {s.default}"]
        if s.go_const:
            why = f": {s.why}" if s.why else ""
            out += [f"\t// {s.go_const} is the smallest {s.env}{why}.", f"\t{s.go_const} = {s.minimum}"]
    out += _go_struct("Requests", [
        "// Requests are the request limits of the app listener. Config embeds it; each field can be",
        "// overridden at run time with the environment variable named in its comment."],
        rows, "int", "integer", lambda s: f"{s.go} is the {_lower_first(s.description)}")
    out += ["// problems returns one error per limit below its floor.",
            "func (r Requests) problems() []error {", "\tvar errs []error"]
    for s in rows:
        if s.go_const:
            out += [f"\tif r.{s.go} < {s.go_const} {{",
                    f'\t\terrs = append(errs, fmt.Errorf("{s.env} must be at least %d, got %d", {s.go_const}, '
                    f"r.{s.go}))", "\t}"]
    out += ["\treturn errs", "}"]
    return "\n".join(out) + "\n"


def values_requests() -> list[str]:
    """Return the values.yaml.jinja lines of the request limits under `app:`."""
    out = []
    for s in request_limits():
        out += [f"  # -- {s.env}: {_lower_first(s.description)}.", f"  {s.values[0].split('.', 1)[1]}: {s.default}"]
    return out


def chart_env_requests() -> list[str]:
    """Return the deployment's env entries of the request limits."""
    out = []
    for s in request_limits():
        value = f".Values.{s.values[0]} | int | toString | quote"
        out += [f"            - name: {s.env}", f"              value: {{{{ {value} }}}}"]
    return out


def schema_requests(schema: str) -> str:
    """Return values.schema.json with the request limits' properties of `app` written from the rows."""
    lines = schema.split("\n")
    start = lines.index('    "app": {')
    props = lines.index('      "properties": {', start)
    end = lines.index("    },", start)
    rows = request_limits()
    keys = {s.values[0].split(".", 1)[1]: s for s in rows}
    kept = [line for line in lines[props + 1:end] if line.split(":", 1)[0].strip().strip('"') not in keys]
    new = []
    for key, s in keys.items():
        node: dict[str, Any] = {"type": "integer", "description": s.env}
        if s.minimum is not None:
            node["minimum"] = int(s.minimum)
        if s.maximum is not None:
            node["maximum"] = int(s.maximum)
        new.append(f'        "{key}": {json.dumps(node)},')
    req_at = next(i for i, line in enumerate(kept) if line.startswith('      "required": '))
    required = sorted(set(json.loads(kept[req_at].split(": ", 1)[1])) | set(keys))
    kept[req_at] = f'      "required": {json.dumps(required)}'
    return "\n".join(lines[:props + 1] + new + kept + lines[end:])


def readme_request_rows() -> list[str]:
    """Return the generated README's env-table rows of the request limits."""
    return [f"| `{s.env}` | `{s.default}` | {_lower_first(s.description)} |" for s in request_limits()]


# ----------------------------------------------------------------------------- hand-written Go settings
def go_const_name(s: st.Setting, kind: str) -> str:
    """Return the Go constant of a row's default, min or max (`kind`): `defaultKubeWorkers`, `minKubeWorkers`."""
    return f"{kind}{'Kube' if s.go.startswith('Kube.') else ''}{s.go.split('.')[-1]}"


def _go_literal(s: st.Setting) -> str:
    if s.type == "bool":
        return "true" if s.default else "false"
    if s.type == "int":
        return str(s.default)
    return json.dumps(s.default)


def table_consts(go_source: str) -> list[str]:
    """Return the generated const block of a hand-written config file: the defaults and limits of the run-time
    rows whose Go field that file declares (`LogLevel`, `Kube.Workers`, ...), so the numbers live in the table."""
    generated = {s.name for s in request_limits()}
    rows = [s for s in st.SETTINGS if s.section == "RUN TIME" and s.go and s.name not in generated
            and s.default not in ("", None) and re.search(rf"^\t{s.go.split('.')[-1]} ", go_source, re.M)
            and ("Kube." in s.go) == ("type Kube struct" in go_source)]
    consts: list[tuple[str, str]] = []
    for s in rows:
        consts.append((go_const_name(s, "default"), _go_literal(s)))
        if s.type == "int" and s.minimum is not None:
            consts.append((go_const_name(s, "min"), str(s.minimum)))
        if s.type == "int" and s.maximum is not None:
            consts.append((go_const_name(s, "max"), str(s.maximum)))
    width = max(len(name) for name, _ in consts)
    return ["", "// Defaults and limits of the settings below, from gosmith's rule table; each can be overridden",
            "// with the variable named where it is read.", "const (",
            *(f"\t{name.ljust(width)} = {value}" for name, value in consts), ")"]


def config_go(text: str) -> str:
    """Return a hand-written config file (.go.jinja) with its generated const block rewritten from the table."""
    return replace_block(text, "table-consts", table_consts(text), JINJA_MARKER)


# ----------------------------------------------------------------------------- gosmith tune
PY_TYPES = {"int": "int", "number": "float", "bool": "bool"}


def tune_help(s: st.Setting) -> str:
    """Return the `gosmith tune --NAME` help of `s`: its description and, where it has one, its range."""
    text, rng = s.description, s.range_text()
    if rng:
        text += f": {rng}" if s.choices else f" ({rng})"
    return text + "."


def tune_options() -> list[str]:
    """Return the parameter lines of `gosmith tune`'s named options (src/gosmith/cli.py), one per tune row."""
    out = []
    for name in st.TUNE_OPTIONS:
        s = st.BY_NAME[name]
        flags = f"{json.dumps(s.tune_flags)}, " if s.tune_flags else ""
        py = PY_TYPES.get(s.type, "str")
        out += [f"    {name}: Annotated[", f"        {py} | None, typer.Option({flags}help={json.dumps(tune_help(s))})",
                "    ] = None,"]
    return out


PY_MARKER = "# {}"


# ----------------------------------------------------------------------------- gosmith doctor
def doctor_flag(s: st.Setting) -> str:
    """Return the flag, config key and annotation suffix of a doctor input (`drain-delay`)."""
    return s.name.replace("_", "-")


def doctor_options() -> list[str]:
    """Return the parameter lines of `gosmith doctor`'s service-timing options (src/gosmith/cli.py)."""
    out = []
    for s in st.DOCTOR_INPUTS:
        out += [f"    {s.name}: Annotated[",
                f'        str | None, typer.Option(help="The service\'s {s.env} (Go duration) where neither its env "',
                f'                                 "nor the gosmith.dev/{doctor_flag(s)} annotation says.")',
                "    ] = None,"]
    return out


def doctor_timings() -> list[str]:
    """Return the `timings=` argument cli.py passes to DoctorRequest."""
    return ["        timings={", *(f'            "{s.name}": {s.name},' for s in st.DOCTOR_INPUTS), "        },"]


def doctor_option_fields() -> list[str]:
    """Return the service-timing fields of doctor_rules.Options (milliseconds, None = not given)."""
    return [f"    {s.name}_ms: int | None = None" for s in st.DOCTOR_INPUTS]


def cli(text: str) -> str:
    """Return src/gosmith/cli.py with its generated `gosmith tune` and `gosmith doctor` options rewritten."""
    text = replace_block(text, "tune-options", tune_options(), PY_MARKER)
    text = replace_block(text, "doctor-options", doctor_options(), PY_MARKER)
    return replace_block(text, "doctor-timings", doctor_timings(), PY_MARKER)


def doctor_rules(text: str) -> str:
    """Return src/gosmith/doctor_rules.py with its Options timing fields rewritten from the table."""
    return replace_block(text, "doctor-options", doctor_option_fields(), PY_MARKER)
