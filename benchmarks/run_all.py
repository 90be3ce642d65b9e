"""Run every benchmark in turn and write their result tables into docs/benchmarks.md (between the markers).

`python benchmarks/run_all.py` runs each benchmark with its defaults (each under about two minutes);
`--short` passes shorter durations for a quick refresh; `--only NAME` runs a subset and replaces only
their sections in the page (each then says when it was recorded); `--no-write` prints the Markdown
instead of editing docs/benchmarks.md. A benchmark that fails is reported as
failed in the page (with the tail of its output) and the script exits 1 after running the rest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

DOC = c.ROOT / "docs" / "benchmarks.md"
START = "<!-- results:start -->"
END = "<!-- results:end -->"

#: name -> (script, extra arguments with --short)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "generation": ("generation.py", ["--runs", "3", "--pairs", "5"]),
    "startup": ("startup.py", ["--runs", "5"]),
    "service_overhead": ("service_overhead.py", []),
    "drain": ("drain.py", ["--warmup", "2"]),
    "cpu_limit": ("cpu_limit.py", ["--duration", "8"]),
    "overload": ("overload.py", ["--duration", "5"]),
    "rollout": ("rollout.py", ["--rollouts", "1"]),
}


def _md_cell(text: object) -> str:
    """Return `text` safe for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def section(result: dict) -> str:
    """Return the Markdown section of one benchmark result (as written by `_common.Report.finish`)."""
    m = result["machine"]
    lines = [
        f"### {result['title']}",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu']}, {m['kernel']}, load average {m.get('load', '?')} at the start; "
        f"{m['go']}.  ",
        f"Command: `{result['command']}`",
        "",
    ]
    if result.get("skipped"):
        lines += [f"Not measured: {result['skipped']}", ""]
    if result["rows"]:
        lines += ["| Metric | Result |", "| --- | --- |"]
        lines += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in result["rows"]]
        lines.append("")
    lines += [f"- {_md_cell(n)}" for n in result.get("notes", [])]
    return "\n".join(lines).rstrip() + "\n"


def raw_section(title: str, command: str, output: str, failed: bool) -> str:
    """Return a section for a benchmark that only printed text (or failed)."""
    status = "failed; the end of its output" if failed else "output"
    tail = "\n".join(output.strip().splitlines()[-40:])
    # Keep this machine's paths out of the page: the interpreter and the checkout become relative.
    tail = tail.replace(sys.executable, "python").replace(f"{c.ROOT}/", "")
    tail = re.sub(r"/tmp/[^\s'\"]+", "<tmp>", tail)
    return f"### {title}\n\nCommand: `{command}` ({status}):\n\n```text\n{tail}\n```\n"


def write_results(doc: Path, body: str) -> None:
    """Replace the text between the result markers of `doc` by `body`."""
    text = doc.read_text(encoding="utf-8")
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise SystemExit(f"{doc}: missing {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{body.strip()}\n{END}{tail}", encoding="utf-8")


def merge_results(old: str, sections: list[str], note: str) -> str:
    """Return the results text `old` with each of `sections` in place of the section with the same
    heading (or appended), `note` under its heading; the other sections and the text before the
    first section stay as they were."""
    def split(text: str) -> tuple[str, list[str]]:
        parts = re.split(r"(?m)^(?=### )", text.strip() + "\n")
        return parts[0], [x for x in parts[1:] if x.strip()]

    head, kept = split(old)
    for new in sections:
        heading, _, rest = new.partition("\n")
        new = f"{heading}\n\n{note}\n{rest}"
        same = [i for i, x in enumerate(kept) if x.partition("\n")[0] == heading]
        if same:
            kept[same[0]] = new
        else:
            kept.append(new)
    return head + "".join(x.rstrip() + "\n\n" for x in kept)


def current_results(doc: Path) -> str:
    """Return the text between the result markers of `doc`."""
    text = doc.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return ""
    return text.split(START, 1)[1].split(END, 1)[0]


def main() -> int:
    """Run the benchmarks and record their tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--short", action="store_true", help="shorter runs (a quick refresh of the page)")
    p.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these (repeatable)")
    p.add_argument("--no-write", action="store_true", help="print the Markdown; leave docs/benchmarks.md alone")
    args = p.parse_args()
    sections, failed = [], False
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=c.ROOT, capture_output=True, text=True)
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="gosmith-bench-results-") as tmp:
        for name, (script, short) in BENCHMARKS.items():
            if args.only and name not in args.only:
                continue
            path = c.BENCH / script
            if not path.exists():
                print(f"== {name}: {script} does not exist yet, skipped", flush=True)
                sections.append(f"### {name}\n\nNot run: `benchmarks/{script}` does not exist in this checkout.\n")
                continue
            out_json = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, str(path), *(short if args.short else [])]
            help_text = subprocess.run([*cmd[:2], "--help"], capture_output=True, text=True).stdout
            if "--json" in help_text:
                cmd += ["--json", str(out_json)]
            print(f"== running {' '.join(cmd[1:])}", flush=True)
            t0 = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            print(proc.stdout, end="", flush=True)
            shown = f"python benchmarks/{script} {' '.join(short if args.short else [])}".strip()
            if proc.returncode != 0:
                failed = True
                print(proc.stderr, end="", file=sys.stderr)
                sections.append(raw_section(name, shown, proc.stdout + proc.stderr, failed=True))
            elif out_json.exists():
                result = json.loads(out_json.read_text())
                result["command"] = shown
                sections.append(section(result))
            else:
                sections.append(raw_section(name, shown, proc.stdout, failed=False))
            print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    rev = commit.stdout.strip() or "unknown"
    flags = " --short" if args.short else ""
    if args.only and not args.no_write:
        # Only some benchmarks ran: replace their sections and keep the others, each saying when.
        only = "".join(f" --only {name}" for name in args.only)
        note = (f"Recorded {started} at gosmith commit `{rev}` with "
                f"`python benchmarks/run_all.py{flags}{only}`, apart from the other sections.")
        body = merge_results(current_results(DOC), sections, note)
    else:
        body = f"Recorded {started} at gosmith commit `{rev}` with `python benchmarks/run_all.py{flags}`.\n\n"
        body += "\n".join(sections)
    if args.no_write:
        print(body)
    else:
        write_results(DOC, body)
        print(f"wrote {DOC.relative_to(c.ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
