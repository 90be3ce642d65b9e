"""The documentation site builds strictly, and its generated references cover every question and CLI option."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import typer
import yaml
from gen import load_module

from gosmith.cli import app
from gosmith.generate import NewRequest, new

ROOT = Path(__file__).resolve().parents[1]


def _load_gen_docs() -> ModuleType:
    """Import scripts/gen_docs.py (the mkdocs hook) as a module."""
    return load_module(ROOT / "scripts" / "gen_docs.py", "gen_docs")


def _text(page: Path) -> str:
    """Return the visible text of an HTML page with whitespace collapsed."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))


def _text_of(fragment: str) -> str:
    """Return the visible text of an HTML fragment."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def _norm(s: str) -> str:
    """Collapse whitespace in `s`."""
    return re.sub(r"\s+", " ", s).strip()


def _squash(s: str) -> str:
    """Remove all whitespace from `s`."""
    return re.sub(r"\s+", "", s)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site with `mkdocs build --strict` into a temporary directory; fail on any warning."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed\n{proc.stdout}\n{proc.stderr}"
    return out


def _copier_questions() -> dict[str, dict]:
    """Return every question of copier.yml (keys not starting with '_')."""
    spec = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    return {k: (v if isinstance(v, dict) else {"default": v}) for k, v in spec.items() if not k.startswith("_")}


def test_every_nav_page_is_built(site: Path) -> None:
    """Each page listed in mkdocs.yml's nav exists as a source (or is generated) and is built."""
    nav = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)["nav"]
    pages = [next(iter(item.values())) for item in nav]
    assert {"answers.md", "cli.md", "quickstart.md", "operations.md", "benchmarks.md"} <= set(pages)
    for page in pages:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), f"{page} was not built"


def test_answers_page_lists_every_question(site: Path) -> None:
    """Every copier.yml question has an anchor, its help text and its type on the answers page."""
    page = site / "answers" / "index.html"
    raw = page.read_text(encoding="utf-8")
    text = _text(page)
    questions = _copier_questions()
    assert questions, "copier.yml has no questions"
    # Markdown turns `code` into tags and highlighting splits code into tokens: compare without whitespace.
    squashed = _squash(text)
    for name, q in questions.items():
        assert f'id="{name}"' in raw, f"question {name} has no section on the answers page"
        if q.get("help"):
            assert _squash(str(q["help"]).replace("`", "")) in squashed, f"help text of {name} missing"
        assert str(q.get("type", "yaml")) in text
        if q.get("validator"):
            assert _squash(str(q["validator"])) in squashed, f"validator of {name} missing from the answers page"
        if "gosmith_check" in str(q.get("validator", "")):
            # the rule text of the pure validator: what it rejects, with the rule's own message
            section = raw[raw.index(f'id="{name}"') :]
            section = _text_of(section[: section.find("<h3", 10)])
            assert "is rejected" in section, f"rule text of {name} missing from the answers page"


def test_answers_generator_follows_copier_yml(tmp_path: Path) -> None:
    """A question added to copier.yml appears in the generated page with its type, default and validator."""
    gen = _load_gen_docs()
    text = (ROOT / "copier.yml").read_text(encoding="utf-8")
    text += (
        "\n# --- EXTRA -----\n"
        "brand_new_question:\n  type: int\n  help: A question the docs have never seen\n  default: 4242\n"
        '  validator: "{% if brand_new_question < 0 %}must be positive{% endif %}"\n'
    )
    (tmp_path / "copier.yml").write_text(text, encoding="utf-8")
    page = gen.answers_markdown(tmp_path)
    assert "### `brand_new_question` { #brand_new_question }" in page
    assert "A question the docs have never seen" in page
    assert "`4242`" in page
    assert "must be positive" in page
    assert "## Extra" in page


def test_cli_page_lists_every_command_and_option(site: Path) -> None:
    """Every command of the typer app, each of its options and arguments, appears on the CLI page."""
    text = _text(site / "cli" / "index.html")
    root = typer.main.get_command(app)
    stack = [("gosmith", root)]
    seen = 0
    while stack:
        full, cmd = stack.pop()
        seen += 1
        assert f"{full} [OPTIONS]" in text or full == "gosmith", f"usage of {full!r} missing from the CLI page"
        for p in cmd.params:
            if p.param_type_name == "option":
                for opt in [*p.opts, *p.secondary_opts]:
                    assert opt in text, f"{full} option {opt} missing from the CLI page"
            else:
                assert (p.metavar or p.name).upper() in text
            if getattr(p, "help", None):
                # The page renders the help as Markdown: a `code` span loses its backticks and becomes
                # an element, whose tags the page text turns into spaces.
                help_text = _squash(p.help.replace("`", ""))
                assert help_text in _squash(text), f"help of {full} {p.name} missing from the CLI page"
        for name, sub in getattr(cmd, "commands", {}).items():
            stack.append((f"{full} {name}", sub))
    assert seen >= 2


def test_quickstart_tree_matches_a_real_render(site: Path, tmp_path: Path) -> None:
    """The quickstart's file tree lists every file and directory `gosmith new my-service --defaults` writes."""
    project = new(NewRequest(name="my-service", output=tmp_path / "my-service", defaults=True))
    text = _text(site / "quickstart" / "index.html")
    tree = text[text.index("my-service/ ├──") :]
    names = {p.name for p in project.rglob("*")}
    assert names
    for name in sorted(names):
        assert re.search(rf"[├└]── {re.escape(name)}/? ", tree), f"{name} missing from the quickstart tree"


def test_reference_pages_are_committed_and_current() -> None:
    """The reference pages are committed (readable in the repository without building the site) and equal
    what scripts/gen_docs.py generates from the sources now: regenerate with `python scripts/gen_docs.py`."""
    gen = _load_gen_docs()
    assert set(gen.GENERATED) == {"answers.md", "settings.md", "cli.md", "doctor-rules.md", "tuning.md"}
    for name, make in gen.GENERATED.items():
        page = ROOT / "docs" / name
        assert page.is_file(), f"docs/{name} is missing: run python scripts/gen_docs.py"
        assert page.read_text(encoding="utf-8") == make(), f"docs/{name} drifted: run python scripts/gen_docs.py"
    assert gen.stale_pages() == []


def test_tuning_page_lists_follow_the_table() -> None:
    """docs/tuning.md's `tuned.durations` keys and `gosmith tune` option list are the table's: a new derived
    duration or tune option appears there by regeneration, and a hand edit is undone."""
    gen = _load_gen_docs()
    settings = gen._rules().settings
    page = (ROOT / "docs" / "tuning.md").read_text(encoding="utf-8")
    derived = [s.name for s in settings.SETTINGS if s.derived and s.type == "duration"]
    assert f"| `durations.{{{', '.join(derived)}}}` |" in page
    flat = " ".join(page.split())
    for name in settings.TUNE_OPTIONS:
        flag = settings.BY_NAME[name].tune_flags or "--" + name.replace("_", "-")
        assert f"`{flag}`" in flat, flag
    edited = page.replace("`--replicas`, ", "", 1)
    assert edited != page
    (ROOT / "docs" / "tuning.md").write_text(edited, encoding="utf-8")
    try:
        assert "`--replicas`" in " ".join(gen.tuning_markdown().split())
    finally:
        (ROOT / "docs" / "tuning.md").write_text(page, encoding="utf-8")


def test_reference_pages_drift_is_detected(tmp_path: Path) -> None:
    gen = _load_gen_docs()
    for name in gen.GENERATED:
        (tmp_path / name).write_text((ROOT / "docs" / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "cli.md").write_text("# CLI reference\n\nhand-edited\n", encoding="utf-8")
    (tmp_path / "answers.md").unlink()
    assert gen.stale_pages(tmp_path) == ["answers.md", "cli.md"]
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1


def test_readme_links_the_reference_pages() -> None:
    """A newcomer reading the repository finds the -d keys, settings, CLI and doctor rules from the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = set(re.findall(r"\]\(([^)#\s]+)", readme))
    for page in ("docs/answers.md", "docs/settings.md", "docs/cli.md", "docs/doctor-rules.md"):
        assert page in links, f"README does not link {page}"
    for link in links:
        if not re.match(r"[a-z]+://", link):
            assert (ROOT / link).exists(), f"README links {link}, which does not exist"
    assert "the doctor rules page" not in readme or "[the doctor rules page](docs/doctor-rules.md)" in readme


def test_values_knobs_table_reads_helm_docs_comments(tmp_path: Path) -> None:
    """The values table generator takes each `# --` description and the default under a key."""
    gen = _load_gen_docs()
    values = tmp_path / "values.yaml"
    values.write_text(
        "# -- Top-level switch\nfoo:\n  # -- Turn foo on\n  enabled: true\n  # -- Extra peers\n  # (CIDRs)\n"
        "  peers: []\nbar:\n  # -- Not foo\n  baz: 1\n",
        encoding="utf-8",
    )
    table = gen.values_knobs(values, "foo")
    assert "| `foo.enabled` | `true` | Turn foo on |" in table
    assert "| `foo.peers` | `[]` | Extra peers (CIDRs) |" in table
    assert "bar.baz" not in table
    with pytest.raises(ValueError):
        gen.values_knobs(values, "missing")


def _documented_log_keys() -> tuple[set[str], set[str], set[str]]:
    """Return (keys on every line, access-log keys, access-log keys documented as "only when ...")
    from the two tables of the Logs section of operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    logs = text[text.index("## Logs") : text.index("### Log level")]
    tables = re.findall(r"\| Key \| Meaning \|\n\| --- \| --- \|\n((?:\|.*\|\n)+)", logs)
    assert len(tables) == 2, "the Logs section must have the every-line table and the access-log table"
    every, access = ({m for m in re.findall(r"^\| `(\w+)` \|", t, flags=re.M)} for t in tables)
    conditional = set(re.findall(r"^\| `(\w+)` \| only when", tables[1], flags=re.M))
    return every, access - conditional, conditional


@pytest.mark.slow
def test_documented_log_fields_and_fluent_bit_time_format_match_a_real_service(tmp_path: Path) -> None:
    """The log keys and the Fluent Bit Time_Format on the operations page match what a built service writes."""
    import datetime as dt
    import os
    import signal
    import urllib.request

    from gen import go_build, listeners, render, wait_http

    project = render(tmp_path / "svc", {"service_name": "docs-svc"})
    binary = go_build(project, tmp_path / "docs-svc")
    ports = listeners()
    env = {
        **os.environ,
        **ports.env,
        "OTEL_TRACES_EXPORTER": "none",
        "DRAIN_DELAY": "0s",
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_http(f"{ports.admin_url}/readyz")
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        req = urllib.request.Request(
            f"{ports.app_url}/v1/hello/docs", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    every, access, conditional = _documented_log_keys()
    assert {"ts", "level", "msg", "caller", "logger", "service", "version", "env"} <= every
    for line in lines:
        assert every <= line.keys(), f"documented keys missing from {line}"
    request = next(line for line in lines if line.get("msg") == "request")
    assert access <= request.keys(), f"documented access-log keys missing from {request}"
    assert "aborted" in conditional  # only on requests whose client got no response
    undocumented = request.keys() - every - access - conditional - {"trace_id", "span_id"}
    assert not undocumented, f"access-log keys not documented on the operations page: {undocumented}"
    assert request["trace_id"] == trace_id and re.fullmatch(r"[0-9a-f]{16}", request["span_id"])

    # The Fluent Bit parser on the page: Time_Key is ts and Time_Format parses every ts
    # (Fluent Bit's %L is the fractional seconds, Python's %f; both accept Z for %z).
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert re.search(r"^\s+Time_Key\s+ts$", page, flags=re.M)
    time_format = re.search(r"^\s+Time_Format\s+(\S+)$", page, flags=re.M).group(1)
    assert f'time_format: "{time_format}"' in page, "the classic and YAML parsers must use the same format"
    now = dt.datetime.now(dt.UTC)
    for line in lines:
        ts = dt.datetime.strptime(line["ts"], time_format.replace("%L", "%f"))
        assert ts.utcoffset() == dt.timedelta(0)
        assert abs((now - ts).total_seconds()) < 300


def _shell_block(page: str, first_word: str) -> list[str]:
    """Return the first shell command in a ```sh block of docs/`page` starting with `first_word`, as argv."""
    import shlex

    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.strip().startswith(first_word):
                return shlex.split(line, comments=True)
    raise AssertionError(f"no `{first_word}` command in a sh block of {page}")


@pytest.mark.slow
def test_quickstart_deploy_commands_work_on_a_generated_project(tmp_path: Path) -> None:
    """The quickstart's `helm upgrade --install` flags pass the chart's strict schema, and `make image` exists."""
    import shutil

    from gen import render, run

    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm not on PATH: run scripts/tools.sh")
    project = render(tmp_path / "my-service", {"service_name": "my-service"})
    install = _shell_block("quickstart.md", "helm upgrade --install")
    release, chart = install[3], install[4]
    options = install[5:]
    out = run([helm, "template", release, chart, *options], project)
    sets = dict(opt.split("=", 1) for opt in options[options.index("--set") :] if "=" in opt)
    assert f':{sets["image.tag"]}"' in out, "image.tag from the quickstart is not in the rendered Deployment"
    assert sets["otel.endpoint"] in out, "otel.endpoint from the quickstart is not in the rendered Deployment"
    make = _shell_block("quickstart.md", "make image")
    dry = run(["make", "-n", *make[1:]], project)
    assert "docker buildx bake" in dry and "1.0.0" in dry


def test_operations_page_lists_every_otel_variable_the_service_reads() -> None:
    """Every OTEL_* variable the generated telemetry code names appears in the Traces section."""
    names: set[str] = set()
    for path in (ROOT / "template" / "internal").rglob("*"):
        if path.is_file() and path.suffix in {".go", ".jinja"} and "_test." not in path.name:
            names |= set(re.findall(r"\bOTEL_[A-Z_]+[A-Z]\b", path.read_text(encoding="utf-8")))
    assert {"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT"} <= names
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    traces = text[text.index("## Traces") : text.index("## NetworkPolicy")]
    missing = sorted(n for n in names if f"`{n}`" not in traces)
    assert not missing, f"OTEL variables read by the service but not documented on the operations page: {missing}"


def test_operations_page_lists_every_metric_and_label_the_service_defines() -> None:
    """Every metric name and label in the generated metrics package appears in the Metrics section."""
    src = "\n".join(
        p.read_text(encoding="utf-8")
        for p in (ROOT / "template" / "internal" / "metrics").iterdir()
        if p.suffix in {".go", ".jinja"} and "_test." not in p.name
    )
    metrics = set(re.findall(r'Name:\s+"(\w+)"', src))
    labels = {lab for group in re.findall(r"\[\]string\{([^}]*)\}", src) for lab in re.findall(r'"(\w+)"', group)}
    labels |= {
        lab for group in re.findall(r"prometheus\.Labels\{([^}]*)\}", src) for lab in re.findall(r'"(\w+)":', group)
    }
    assert "http_server_requests_total" in metrics and "route" in labels
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("## Metrics") : text.index("### ServiceMonitor")]
    missing = sorted(f"`{n}`" for n in metrics | labels if f"`{n}`" not in section)
    assert not missing, f"defined by the service but missing from the Metrics section: {missing}"


def test_operations_page_lists_every_route_the_service_registers() -> None:
    """Every route the generated server and api packages register appears in the endpoints table."""
    routes: set[str] = set()
    for pkg in ("server", "api"):
        for path in (ROOT / "template" / "internal" / pkg).iterdir():
            if path.suffix in {".go", ".jinja"} and "_test." not in path.name:
                text = path.read_text(encoding="utf-8")
                routes |= {r.split(" ")[-1] for r in re.findall(r'Handle(?:Func)?\("([^"]+)"', text)}
    routes = {"/debug/pprof/*" if r.startswith("/debug/pprof/") else r for r in routes if r != "/"}
    assert {"/livez", "/readyz", "/metrics", "/v1/hello/{name}"} <= routes
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("## Listeners and endpoints") : text.index("## Shutdown and drain")]
    missing = sorted(r for r in routes if f"`{r}`" not in section and f"{r}`" not in section)
    assert not missing, f"routes registered by the service but missing from the endpoints table: {missing}"


def test_updating_page_examples_match_check_and_update_output() -> None:
    """The `gosmith check` and `gosmith update` sample output on the updating page is what the code prints."""
    from gosmith.check import CheckResult
    from gosmith.update import UpdateResult

    text = (ROOT / "docs" / "updating.md").read_text(encoding="utf-8")
    behind = CheckResult(path="/home/me/my-service", project_version="0.1.0", template_version="0.2.0", status="behind")
    assert behind.human() in text, f"the check example differs from the real line: {behind.human()}"
    as_json = CheckResult(path="...", project_version="0.1.0", template_version="0.2.0", status="behind").to_json()
    assert as_json in text, f"the check --json example differs from the real object: {as_json}"
    assert behind.exit_code == 1 and CheckResult("p", "0.3.0", "0.2.0", "ahead").exit_code == 0
    assert "exit 0: current (or ahead), 1: behind" in text
    update = UpdateResult(
        from_version="0.1.0",
        to_version="0.2.0",
        added=["internal/buildinfo/buildinfo_test.go"],
        changed=[".copier-answers.yml", "b", "c"],
    )
    head = update.summary().splitlines()[:3]
    assert "\n".join(head) in text, f"the update summary example differs from the real output: {head}"


def _tuning() -> ModuleType:
    """Return the template's tuning rules, loaded the way copier's extension loads them."""
    from gosmith.template import rules

    return rules().tuning


def test_tuning_page_gomaxprocs_worked_examples_match_the_rules() -> None:
    """Each `LIMIT -> N` of the GOMAXPROCS worked examples is what the tuning rules derive."""
    text = _norm((ROOT / "docs" / "tuning.md").read_text(encoding="utf-8"))
    para = text[text.index("**Worked examples** (Go 1.26") : text.index("The trade-off:")]
    token = re.compile(
        r"\(Go 1\.(?P<g1>\d+), policy (?P<p1>\w+)\)|Policy (?P<p2>\w+):|Go 1\.(?P<g3>\d+), (?P<p3>\w+):"
        r"|(?P<limit>\d+m?) -> (?P<value>\d+|unset)"
    )
    go, policy, checked = "", "", 0
    for m in token.finditer(para):
        if m["g1"] or m["g3"]:
            go, policy = f"1.{m['g1'] or m['g3']}", m["p1"] or m["p3"]
        elif m["p2"]:
            policy = m["p2"]
        else:
            answers = {"go_version": go, "gomaxprocs_policy": policy, "cpu_limit": m["limit"]}
            got = _tuning().derive(answers).as_context()["gomaxprocs"]
            want = 0 if m["value"] == "unset" else int(m["value"])
            assert got == want, f"tuning.md says {answers} -> {m['value']}, the rules give {got or 'unset'}"
            checked += 1
    assert checked >= 9, f"only {checked} GOMAXPROCS examples found: did the paragraph change shape?"


def test_tuning_page_gomemlimit_worked_examples_match_the_rules() -> None:
    """Each `LIMIT x RATIO -> VALUE` of the GOMEMLIMIT worked examples is what the tuning rules derive."""
    text = _norm((ROOT / "docs" / "tuning.md").read_text(encoding="utf-8"))
    para = text[text.index("**Worked examples.** 512Mi") : text.index("## The request time budget")]
    examples = re.findall(r"(\d+[GM]i?)(?: = [\d.]+MiB)? x (0\.\d+)(?: = [\d.]+MiB)? -> `(\d+MiB)`", para)
    assert len(examples) >= 4, f"only {examples} found: did the paragraph change shape?"
    for limit, ratio, want in examples:
        answers = {"memory_limit": limit, "memory_request": limit, "gomemlimit_ratio": float(ratio)}
        got = _tuning().derive(answers).as_context()["gomemlimit"]
        assert got == want, f"tuning.md says {limit} x {ratio} -> {want}, the rules give {got}"
