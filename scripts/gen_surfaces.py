"""Write the files the rule table (hooks/settings.py) generates: copier.yml's questions, the Go durations
and request limits, the defaults and limits in the hand-written config files, the chart's timeouts and app
values, schema, env entries and invariant key lists, the generated README's env rows, `gosmith tune`'s
options, `gosmith doctor`'s timing inputs.

`python scripts/gen_surfaces.py` rewrites them; `--check` exits 1 and prints the diff when a
committed file differs (tests/test_settings.py runs the same check).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def surfaces(root: Path = ROOT) -> ModuleType:
    """Return hooks/surfaces.py of `root`, loaded the one way gosmith loads the template's rules."""
    from gosmith import template

    return importlib.import_module(f"{template.rules(root).__name__}.surfaces")


def generated(root: Path = ROOT) -> dict[Path, str]:
    """Return {file: the text the table generates for it}."""
    gen = surfaces(root)
    copier_yml = root / "copier.yml"
    chart = root / "template" / "deploy" / "helm" / "{{service_name}}"
    parts = (chart / "values.yaml.jinja", chart / "templates" / "deployment.yaml.jinja",
             chart / "templates" / "_invariants.tpl.jinja")
    readme = root / "template" / "README.md.jinja"
    cli = root / "src" / "gosmith" / "cli.py"
    config = root / "template" / "internal" / "config"
    config_go = [config / "config.go.jinja", *sorted(config.glob("*kube.go*.jinja"))]
    doctor_rules = root / "src" / "gosmith" / "doctor_rules.py"
    texts = gen.chart_files(*(p.read_text(encoding="utf-8") for p in parts))
    return {
        copier_yml: gen.copier_yml(copier_yml.read_text(encoding="utf-8")),
        root / "template" / "internal" / "config" / "durations.go.jinja": gen.go_durations(),
        root / "template" / "internal" / "config" / "requests.go": gen.go_requests(),
        **{path: gen.config_go(path.read_text(encoding="utf-8")) for path in config_go},
        **dict(zip(parts, texts, strict=True)),
        readme: gen.readme(readme.read_text(encoding="utf-8")),
        cli: gen.cli(cli.read_text(encoding="utf-8")),
        doctor_rules: gen.doctor_rules(doctor_rules.read_text(encoding="utf-8")),
        chart / "values.schema.json": gen.schema_requests(
            gen.schema_timeouts((chart / "values.schema.json").read_text(encoding="utf-8"))),
    }


def drift(root: Path = ROOT) -> str:
    """Return the unified diff of every generated file against the committed one ("" when none)."""
    out = []
    for path, text in generated(root).items():
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old != text:
            rel = path.relative_to(root).as_posix()
            out += difflib.unified_diff(old.splitlines(keepends=True), text.splitlines(keepends=True),
                                        f"a/{rel}", f"b/{rel} (generated)")
    return "".join(out)


def main(argv: list[str]) -> int:
    """Write the generated files, or with --check report drift; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 with the diff on drift")
    args = p.parse_args(argv)
    if args.check:
        diff = drift()
        sys.stdout.write(diff)
        return 1 if diff else 0
    for path, text in generated().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
