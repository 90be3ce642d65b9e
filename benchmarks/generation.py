"""Generation benchmark: wall time of `gosmith new --defaults` and of `gosmith update` with nothing to change.

Each command runs as a user would run it (the installed `gosmith` CLI, a fresh process each time).
The first `gosmith new` also builds gosmith's release repository in an empty cache directory and is
reported separately as the cold start; the median is over the following (warm) runs.

An absolute time moves with the machine and its load, so the figure to compare across machines and
commits is a ratio measured in one run: `gosmith new --defaults` against a plain `copier copy
--defaults` of the same template version (the files gosmith renders, copied out of its release
repository), in pairs run back to back (the order alternating), median of the pairs' ratios.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Run `cmd` and return its wall time in seconds."""
    t0 = time.perf_counter()
    c.run(cmd, cwd=cwd, env=env)
    return time.perf_counter() - t0


def has_command(name: str) -> bool:
    """Return whether the gosmith CLI has the subcommand `name`."""
    import typer

    from gosmith.cli import app

    return name in getattr(typer.main.get_command(app), "commands", {})


def template_tree(wd: Path, env: dict[str, str]) -> Path:
    """Copy the files `gosmith new` renders (the current version's tree of its release repository) to wd/template."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from gosmith.source import copy_source

        with copy_source() as (src, _ref):
            return Path(shutil.copytree(src, wd / "template"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def paired(gosmith: list[str], env: dict[str, str], wd: Path, pairs: int) -> tuple[list[float], list[float]]:
    """Return the times of `pairs` runs of `gosmith new --defaults` and of plain `copier copy --defaults`.

    Each pair runs back to back, gosmith first in even pairs and copier first in odd ones, so a change
    of the machine's load during the run touches both sides of a pair alike.
    """
    template = template_tree(wd, env)
    copier = [str(Path(sys.executable).with_name("copier"))]
    if not Path(copier[0]).exists():
        copier = [sys.executable, "-m", "copier"]
    g_times, c_times = [], []
    for i in range(pairs):
        g_cmd = [*gosmith, "new", f"pair-g{i}", "-o", str(wd / f"pair-g{i}"), "--defaults"]
        c_cmd = [*copier, "copy", "--trust", "--defaults", "--quiet", "--data", f"service_name=pair-c{i}",
                 str(template), str(wd / f"pair-c{i}")]
        if i % 2 == 0:
            g_times.append(timed(g_cmd, env))
            c_times.append(timed(c_cmd, env))
        else:
            c_times.append(timed(c_cmd, env))
            g_times.append(timed(g_cmd, env))
    return g_times, c_times


def main() -> int:
    """Time `gosmith new --defaults` and a no-op `gosmith update`; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="warm runs of each command (default 5)")
    p.add_argument("--pairs", type=int, default=11, help="gosmith/copier pairs for the ratio (default 11)")
    args = p.parse_args()
    rep = c.Report("generation", "Generation: gosmith new and gosmith update")
    rep.header()
    gosmith = c.gosmith_cmd()
    with c.workdir(args.workdir) as wd:
        # Bytecode cached as after an install (pip compiles copier's modules; an editable gosmith caches its
        # own on first import), even where the environment sets PYTHONDONTWRITEBYTECODE: otherwise every
        # run would compile gosmith's modules and its template's hooks from source, and copier's none.
        env = {**GIT_ENV, "GOSMITH_CACHE_DIR": str(wd / "cache"), "PYTHONDONTWRITEBYTECODE": ""}
        cold = timed([*gosmith, "new", "svc-cold", "-o", str(wd / "svc-cold"), "--defaults"], env)
        warm = [
            timed([*gosmith, "new", f"svc-{i}", "-o", str(wd / f"svc-{i}"), "--defaults"], env)
            for i in range(args.runs)
        ]
        files = sum(1 for f in (wd / "svc-0").rglob("*") if f.is_file())
        rep.add("`gosmith new --defaults`, first run (empty cache)", c.ms(cold))
        rep.add(f"`gosmith new --defaults`, median of {args.runs}", c.ms(c.median(warm)))
        rep.add("`gosmith new --defaults`, min / max", f"{c.ms(min(warm))} / {c.ms(max(warm))}")
        rep.add("files generated", str(files))

        g_times, c_times = paired(gosmith, env, wd, args.pairs)
        ratios = [g / c for g, c in zip(g_times, c_times, strict=True)]
        rep.add(f"`gosmith new --defaults` / plain `copier copy --defaults`, same template version, median of "
                f"{args.pairs} paired ratios", f"{c.median(ratios):.2f}")
        rep.add("paired ratio min / max", f"{min(ratios):.2f} / {max(ratios):.2f}")
        rep.add(f"in those pairs: `gosmith new` / `copier copy`, medians of {args.pairs}",
                f"{c.ms(c.median(g_times))} / {c.ms(c.median(c_times))}")

        if not has_command("update"):
            rep.note("`gosmith update` does not exist in this gosmith yet: not measured")
        else:
            project = wd / "svc-0"
            c.run(["git", "init", "-q", "-b", "main"], cwd=project, env=env)
            c.run(["git", "add", "-A"], cwd=project, env=env)
            c.run(["git", "commit", "-q", "-m", "generated"], cwd=project, env=env)
            times = []
            for _ in range(args.runs):
                times.append(timed([*gosmith, "update", str(project)], env))
                status = c.run(["git", "status", "--porcelain"], cwd=project, env=env)
                if status.strip():
                    rep.note(f"update changed files although nothing was new: {status.strip()[:200]}")
                    c.run(["git", "add", "-A"], cwd=project, env=env)
                    c.run(["git", "commit", "-q", "-m", "update"], cwd=project, env=env)
            rep.add(f"`gosmith update` with no changes, median of {args.runs}", c.ms(c.median(times)))
            rep.add("`gosmith update` with no changes, min / max", f"{c.ms(min(times))} / {c.ms(max(times))}")
    rep.note(f"1-minute load average at the end: {os.getloadavg()[0]:.2f}")
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
