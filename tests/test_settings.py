"""The rule table (hooks/settings.py) against every surface: copier.yml, `gosmith tune`, the chart's schema and Go.

Each surface either is generated from the table or is compared with it here, so a limit changed in
one place and not the others fails this file.
"""

from __future__ import annotations

import dataclasses
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from gen import ROOT, load_module
from schema_strategy import inline_refs

from gosmith.cli import app
from gosmith.template import rules

settings = rules().settings
gen_surfaces = load_module(ROOT / "scripts" / "gen_surfaces.py", "gen_surfaces")
CHART = ROOT / "template" / "deploy" / "helm" / "{{service_name}}"
CONFIG_GO = ROOT / "template" / "internal" / "config" / "config.go.jinja"
#: The config package's hand-written and generated files (constants may live in either).
CONFIG_SOURCES = (CONFIG_GO, ROOT / "template" / "internal" / "config" / "requests.go")
#: copier question type for each table type.
COPIER_TYPE = {
    "int": "int", "number": "float", "str": "str", "bool": "bool", "choice": "str", "multichoice": "str",
    "cpu": "str", "memory": "str", "version": "str",
}  # fmt: skip


def copier_questions() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def schema_node(path: str) -> dict[str, Any] | None:
    """Return the values.schema.json node of a dotted values path, or None when the schema has no such key."""
    node: Any = inline_refs(json.loads((CHART / "values.schema.json").read_text(encoding="utf-8")))
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


# ----------------------------------------------------------------------------- generated surfaces
def test_generated_files_match_the_table() -> None:
    """copier.yml's questions are generated from the table (scripts/gen_surfaces.py): no drift, diff on failure."""
    diff = gen_surfaces.drift(ROOT)
    assert not diff, "run `make generate` (scripts/gen_surfaces.py); the committed files differ:\n" + diff


def test_every_question_is_in_the_table_in_order() -> None:
    assert list(copier_questions()) == [s.name for s in settings.ANSWERS]


@pytest.mark.parametrize("name", [s.name for s in settings.ANSWERS])
def test_copier_question_follows_the_table(name: str) -> None:
    spec = copier_questions()[name]
    s = settings.BY_NAME[name]
    assert {"type", "help", "default", "validator"} <= set(spec), name
    assert spec["validator"] == settings.copier_validator(name)
    assert spec["type"] == COPIER_TYPE[s.type]
    assert bool(spec.get("multiselect")) == (s.type == "multichoice")
    if s.choices:
        assert tuple(spec["choices"]) == s.choices
    if s.default is not None:
        assert spec["default"] == s.default
    assert "{" not in spec["help"].replace("{{", "").replace("}}", ""), f"unfilled placeholder: {spec['help']}"


@pytest.mark.parametrize("name", ["gomemlimit_ratio", "hpa_cpu_target_percent", "kubernetes_version", "go_version"])
def test_help_numbers_come_from_the_row(name: str) -> None:
    """A limit changed in the row changes the help copier shows: the number is written once."""
    surfaces = gen_surfaces.surfaces(ROOT)
    row = settings.BY_NAME[name]
    assert row.range_text() in surfaces.help_text(row)
    moved = dataclasses.replace(row, maximum=row.maximum - 1 if isinstance(row.maximum, int) else Fraction(3, 4))
    assert moved.range_text() != row.range_text() and moved.range_text() in surfaces.help_text(moved)


def test_help_constants_come_from_the_tuning_rules() -> None:
    surfaces = gen_surfaces.surfaces(ROOT)
    tuning = rules().tuning
    assert f"at least {surfaces.constants()['MIN_MEMORY_LIMIT']})" in copier_questions()["memory_limit"]["help"]
    assert surfaces.constants()["MIN_MEMORY_LIMIT"] == f"{tuning.MIN_MEMORY_LIMIT // 2**20}Mi"
    grace = copier_questions()["termination_grace_period_seconds"]["help"]
    assert f"+ {tuning.GRACE_MARGIN_MS // 1000}s margin" in grace


def test_copier_validators_reach_the_table(tmp_path: Path) -> None:
    """The filter copier calls is the table's check: a cross-field rule fires through a real render."""
    import gen

    with pytest.raises(ValueError, match=r"admin_port must differ from http_port \(both 8080\)"):
        gen.render(tmp_path / "p", {"service_name": "x", "admin_port": 8080})
    assert not (tmp_path / "p").exists()


# ----------------------------------------------------------------------------- gosmith tune
def test_tune_options_are_the_table_tune_settings() -> None:
    command = typer.main.get_command(app).commands["tune"]  # type: ignore[attr-defined]
    named = {p.name for p in command.params} - {"ctx", "answers_file", "as_json", "data"}
    assert named == set(settings.TUNE_OPTIONS)
    for name in settings.TUNE_OPTIONS:
        assert settings.BY_NAME[name].answer, f"tune option {name} must be an answer too"


# ----------------------------------------------------------------------------- gosmith doctor
def test_doctor_timing_inputs_are_the_table_doctor_rows(tmp_path: Path) -> None:
    """The doctor reads exactly the table's doctor inputs: its flags, config keys, Options fields and the env
    names it reads from a workload (a manifest whose env holds one row's variable is read from that env)."""
    from gosmith import doctor, doctor_rules

    rows = settings.DOCTOR_INPUTS
    assert {s.name for s in rows} == {"drain_delay", "shutdown_timeout", "telemetry_flush_timeout", "idle_timeout"}
    command = typer.main.get_command(app).commands["doctor"]  # type: ignore[attr-defined]
    flags = {p.name for p in command.params}
    assert {s.name for s in rows} <= flags
    assert set(doctor.config_keys()[: len(rows)]) == {s.name.replace("_", "-") for s in rows}
    fields = {f.name for f in dataclasses.fields(doctor_rules.Options)}
    assert {f"{s.name}_ms" for s in rows} <= fields
    assert {env for env, _, _ in doctor_rules.timings().values()} == {s.env for s in rows}
    for s in rows:
        req = doctor.DoctorRequest(target="-", timings={s.name: "1500ms"})
        opts, _ = doctor.options(req)
        assert getattr(opts, f"{s.name}_ms") == 1500, s.name
        others = [getattr(opts, f"{o.name}_ms") for o in rows if o is not s]
        assert others == [None] * (len(rows) - 1), s.name


# ----------------------------------------------------------------------------- errors
NUMERIC = [s for s in settings.SETTINGS if s.type in ("int", "number") and s.minimum is not None]


@pytest.mark.parametrize("s", NUMERIC, ids=lambda s: s.name)
def test_range_errors_name_the_setting_and_the_limit_first(s: Any) -> None:
    rule = settings.FIELDS[s.name]
    low, high = s.minimum, s.maximum
    as_answer = int if s.type == "int" else float
    assert rule(as_answer(low)) == "" and (high is None or rule(as_answer(high)) == "")
    bad = [high + 1] if high is not None else []
    if low > 0:
        bad.append(low - 1 if s.type == "int" else low / 2)
    for value in bad:
        value = int(value) if s.type == "int" else float(value)
        msg = rule(value)
        assert msg.startswith(f"{s.name} must be {s.range_text()}"), msg
        assert msg.endswith(f", got {settings.fmt(Fraction(str(value)))}"), msg
        assert "\n" not in msg
        if s.why:
            assert f"({s.why})" in msg


def test_error_example_from_the_issue() -> None:
    assert settings.check("http_port", 80) == (
        "http_port must be 1024-65535 (non-root containers cannot bind below 1024), got 80"
    )


# ----------------------------------------------------------------------------- the table itself
def test_surfaces_name_a_place_the_setting_appears_and_say_why() -> None:
    for s in settings.SETTINGS:
        for surface in s.surfaces:
            assert surface.reason, s.name
            where = {"values": s.values, "go": (s.go,), "env": (s.env,)}[surface.where]
            assert surface.name in where, f"{s.name}: {surface.where} {surface.name} is not one of {where}"


def test_tuning_defaults_come_from_the_table() -> None:
    tuning = rules().tuning
    for name, default in tuning.DEFAULTS.items():
        assert settings.BY_NAME[name].default == default


# ----------------------------------------------------------------------------- values.schema.json
VALUES_SURFACES = [(s, path) for s in settings.SETTINGS for path in s.values]


@pytest.mark.parametrize(("s", "path"), VALUES_SURFACES, ids=lambda x: x if isinstance(x, str) else x.name)
def test_schema_agrees_with_the_table(s: Any, path: str) -> None:
    node = schema_node(path)
    assert node is not None, f"values.schema.json has no {path} (the table says {s.name} surfaces there)"
    if s.type in ("int", "number"):
        low, high = s.limits("values", path)
        branches = node.get("anyOf", [node])
        for branch in branches:
            if branch.get("type") == "string":  # a decimal string: its pattern must accept exactly the range
                pattern = branch["pattern"]
                accepted = [k for k in range(0, 2001) if re.fullmatch(pattern, settings.fmt(Fraction(k, 1000)))]
                assert accepted == [k for k in range(0, 2001) if low <= Fraction(k, 1000) <= high], path
        node = next(b for b in branches if b.get("type") in ("integer", "number"))
        assert node.get("minimum") == low, f"{path}: schema minimum {node.get('minimum')} != table {low}"
        shown = None if high is None else (float(high) if isinstance(high, Fraction) else high)
        assert node.get("maximum") == shown, f"{path}: schema maximum {node.get('maximum')} != table {high}"
    elif s.type == "choice":
        assert tuple(node.get("enum", ())) == s.choices, path
    elif s.type == "bool":
        assert node.get("type") == "boolean", path


def test_schema_port_floor_is_enforced_by_helm(tmp_path: Path) -> None:
    """The schema's port minimum is the table's: a value below it fails `helm template` (when helm is there)."""
    low, _ = settings.BY_NAME["http_port"].limits("values", "ports.http")
    assert schema_node("ports.http")["minimum"] == low == 1024  # type: ignore[index]


# ----------------------------------------------------------------------------- Go config
def go_const(name: str) -> int:
    """Return the value of an integer constant of the config package (`x = 4 << 10`, `x = 4096`)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in CONFIG_SOURCES)
    m = re.search(rf"^\s*{name}\s*=\s*([0-9]+)(?:\s*<<\s*([0-9]+))?", text, re.M)
    assert m, f"the config package has no constant {name}"
    return int(m[1]) << int(m[2] or 0)


def test_go_validate_floors_come_from_the_table() -> None:
    for s in settings.SETTINGS:
        if s.go_const:
            low, _ = s.limits("go", s.go)
            assert go_const(s.go_const) == low, f"Go {s.go_const} != table minimum of {s.name}"


def test_go_port_range_is_the_recorded_exception() -> None:
    text = CONFIG_GO.read_text(encoding="utf-8")
    m = re.search(r"n < (\d+) \|\| n > (\d+)", text)
    assert m, "validAddr's port range not found"
    for name in ("http_port", "admin_port"):
        s = settings.BY_NAME[name]
        assert (int(m[1]), int(m[2])) == s.limits("go", s.go), name


def test_hand_written_config_files_take_defaults_and_limits_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults and limits of LOG_LEVEL, SHED_TARGET_LATENCY and the flavors' KUBE_*/WATCH_*/LEADER_ELECT
    settings are a generated
    const block of the file that reads them: a moved default or limit in a row moves the Go constant."""
    surfaces = gen_surfaces.surfaces(ROOT)
    config = ROOT / "template" / "internal" / "config"
    informer = next(config.glob("*informer*kube.go*.jinja"))
    controller = next(config.glob("*controller*kube.go*.jinja"))
    wanted = {CONFIG_GO: {'defaultLogLevel          = "info"', 'defaultShedTargetLatency = "100ms"'},
              informer: {"defaultKubeWorkers       = 2", "maxKubeWorkers           = 64",
                         'defaultKubeLabelSelector = "app.kubernetes.io/part-of={{ service_name }}"'},
              controller: {"defaultKubeLeaderElection = true", "defaultKubeResyncPeriod   = \"10m\""}}
    for path, lines in wanted.items():
        block = [line.strip() for line in surfaces.table_consts(path.read_text(encoding="utf-8"))]
        assert lines <= set(block), (path.name, block)
    row = settings.BY_NAME["kube_workers"]
    moved = dataclasses.replace(row, default=3, maximum=32)
    monkeypatch.setattr(surfaces.st, "SETTINGS", tuple(moved if s is row else s for s in settings.SETTINGS))
    block = [line.strip() for line in surfaces.table_consts(controller.read_text(encoding="utf-8"))]
    assert "defaultKubeWorkers        = 3" in block and "maxKubeWorkers            = 32" in block, block


def test_go_default_max_header_bytes_is_the_table_default() -> None:
    assert go_const("defaultMaxHeaderBytes") == settings.BY_NAME["max_header_bytes"].default


def test_go_limits_package_uses_the_table_ratio_and_policies() -> None:
    """internal/limits (run time) holds the same GOMEMLIMIT_RATIO bounds and GOMAXPROCS_POLICY choices."""
    text = (ROOT / "template" / "internal" / "limits" / "policy.go").read_text(encoding="utf-8")
    found = re.finditer(r"(\w+Ratio)\s*=\s*big\.NewRat\((\d+), (\d+)\)", text)
    rats = {m[1]: Fraction(int(m[2]), int(m[3])) for m in found}
    ratio = settings.BY_NAME["gomemlimit_ratio"]
    assert (rats["minRatio"], rats["maxRatio"]) == ratio.limits("env", ratio.env)
    m = re.search(r"Policies = \[\]string\{([^}]*)\}", text)
    assert m and tuple(re.findall(r'"(\w+)"', m[1])) == settings.BY_NAME["gomaxprocs_policy"].choices


# ----------------------------------------------------------------------------- docs
def test_settings_reference_page_is_generated_from_the_table() -> None:
    """docs' settings page (scripts/gen_docs.py) has a row per setting with its limits and surfaces, and every
    deliberate surface difference with its reason."""
    from gen import load_module

    page = load_module(ROOT / "scripts" / "gen_docs.py", "gen_docs_settings").settings_markdown()
    for s in settings.SETTINGS:
        row = next((ln for ln in page.splitlines() if ln.startswith(f"| `{s.name}` | {s.type} |")), None)
        assert row, f"{s.name} has no row"
        for surface in (*s.values, s.env, s.go):
            assert not surface or f"`{surface}`" in row, (s.name, surface)
        if s.type in ("int", "number") and s.maximum is not None:
            assert s.range_text() in row
        for sf in s.surfaces:
            assert sf.reason in page
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "settings.md" in nav
