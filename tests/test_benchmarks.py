"""The benchmark scripts run and report (machine, command, rows); no number is ever asserted here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _load(name: str) -> ModuleType:
    """Import benchmarks/<name>.py as a module."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up while the class is created
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_run_all_rewrites_only_the_results_section(tmp_path: Path) -> None:
    """run_all.py replaces the text between the markers and keeps the rest of the page."""
    run_all = _load("run_all")
    doc = tmp_path / "b.md"
    doc.write_text(f"# B\n\nintro\n\n{run_all.START}\nold\n{run_all.END}\n\noutro\n", encoding="utf-8")
    run_all.write_results(doc, "new table")
    assert doc.read_text(encoding="utf-8") == f"# B\n\nintro\n\n{run_all.START}\nnew table\n{run_all.END}\n\noutro\n"
    (tmp_path / "nomarkers.md").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        run_all.write_results(tmp_path / "nomarkers.md", "x")


def test_docs_page_has_the_result_markers() -> None:
    """docs/benchmarks.md carries exactly one results section for run_all.py to fill."""
    run_all = _load("run_all")
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert text.count(run_all.START) == 1 and text.count(run_all.END) == 1
    assert text.index(run_all.START) < text.index(run_all.END)


def test_section_renders_machine_command_rows_and_notes() -> None:
    """A result becomes a Markdown section with the machine, the command, a table and the notes."""
    run_all = _load("run_all")
    result = {
        "title": "T",
        "command": "python benchmarks/x.py --runs 1",
        "machine": {"nproc": "2", "cpu": "CPU", "kernel": "Linux", "go": "go version go1.26", "python": "3.11"},
        "rows": [["metric a", "1 ms"], ["metric | b", "2"]],
        "notes": ["a note"],
        "skipped": "",
    }
    md = run_all.section(result)
    assert "### T" in md and "2 CPUs, CPU" in md and "go version go1.26" in md
    assert "`python benchmarks/x.py --runs 1`" in md
    assert "| metric a | 1 ms |" in md and "| metric \\| b | 2 |" in md
    assert "- a note" in md


class _Hello(BaseHTTPRequestHandler):
    """Answers every GET with 200, except /fail with 503."""

    def do_GET(self) -> None:
        """Serve one request."""
        code = 503 if self.path == "/fail" else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        """Answer 200 when the body has the announced length and repeats a-z, else 400."""
        size = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(size)
        good = size > 0 and body == bytes(ord("a") + i % 26 for i in range(size))
        self.send_response(200 if good else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Stay quiet."""


@pytest.mark.slow
def test_loadgen_counts_requests_and_failures(tmp_path: Path) -> None:
    """The Go load generator sends what it is told and tells successes from failures."""
    common = _load("_common")
    lg = common.build_loadgen(tmp_path / "loadgen")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        ok = json.loads(
            subprocess.run(
                [*common.loadgen(lg, base + "/", conc=2, duration=0, n=50)],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        bad = json.loads(
            subprocess.run(
                [*common.loadgen(lg, base + "/fail", rate=50, conc=4, duration=0, n=20)],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        posted = json.loads(
            subprocess.run(
                [*common.loadgen(lg, base + "/echo", conc=2, duration=0, n=10, body=1000)],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        pinned = json.loads(
            subprocess.run(
                [*common.loadgen(lg, base + "/echo", conc=3, duration=0, n=12, body=100), "-pinned", "-think", "1ms"],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
    finally:
        server.shutdown()
        thread.join()
    assert (posted["sent"], posted["status"]) == (10, {"200": 10})
    # Pinned: this HTTP/1.0 server closes every connection, so each request reconnects.
    assert pinned["mode"] == "pinned" and pinned["status"] == {"200": 12}
    assert pinned["pinned"] == {"completed": 12, "lost": 0, "listener_close_resets": 0, "connections": 12, "refused": 0}
    assert (ok["mode"], ok["sent"], ok["ok"], ok["failed"], ok["status"]) == ("closed", 50, 50, 0, {"200": 50})
    assert (bad["mode"], bad["sent"], bad["ok"], bad["failed"], bad["status"]) == ("open", 20, 0, 20, {"503": 20})
    assert bad["first_failure_unix"] > 0


BENCHMARK_RUNS = {
    "generation": ["--runs", "1", "--pairs", "2"],
    "startup": ["--runs", "1", "--requests", "50"],
    "drain": ["--warmup", "0.5", "--drain-delay", "1500ms", "--lb-delay", "0.5", "--rate", "50", "--clients", "4"],
    "cpu_limit": ["--duration", "1", "--warmup", "0.2", "--connections", "4", "--echo-bytes", "4096"],
    "overload": ["--duration", "1", "--factors", "2", "--limits", "8", "--body", "4096", "--recovery-max", "5"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BENCHMARK_RUNS))
def test_benchmark_script_runs_and_reports(name: str, tmp_path: Path) -> None:
    """Each benchmark runs end to end with tiny settings and writes machine, command and result rows."""
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *BENCHMARK_RUNS[name], "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "machine:" in proc.stdout and "command:" in proc.stdout
    result = json.loads(out.read_text())
    assert result["benchmark"] == name
    assert result["machine"]["nproc"] and result["machine"]["go"].startswith("go version")
    assert f"{name}.py" in result["command"]
    if result["skipped"]:  # cpu_limit and overload on a machine without cgroup control
        assert name in ("cpu_limit", "overload") and not result["rows"]
    else:
        assert result["rows"] and all(value for _, value in result["rows"])
    if name == "drain":  # both modes ran: the constant rate one and the pinned keep-alive one
        rows = dict(result["rows"])
        assert rows["exit code"] == "0" and rows["pinned: exit code"] == "0"
        assert rows["`/readyz` 503 after SIGTERM"] != "did not flip"
        assert {"pinned: requests completed", "pinned: lost requests (goal: 0)"} <= rows.keys()


def test_raw_output_keeps_machine_paths_out_of_the_page() -> None:
    """Output of a benchmark without --json is shown with the interpreter, checkout and temp paths removed."""
    run_all = _load("run_all")
    out = f"command: {sys.executable} {ROOT}/benchmarks/service_overhead.py --out /tmp/x/y.json\nratio 0.5\n"
    md = run_all.raw_section("service_overhead", "python benchmarks/service_overhead.py", out, failed=False)
    assert "command: python benchmarks/service_overhead.py --out <tmp>" in md
    assert str(ROOT) not in md and "/tmp/" not in md
    assert "ratio 0.5" in md
