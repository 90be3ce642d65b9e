"""The doctor rules reference is generated from the rule table, committed (current: tests/test_docs.py), in the nav."""

from __future__ import annotations

import yaml
from gen import ROOT, load_module

from gosmith.doctor_rules import LB_DEFAULTS, rule_table


def test_rules_page_has_every_rule_with_what_why_formula_and_fix() -> None:
    page = load_module(ROOT / "scripts" / "gen_docs.py", "gen_docs").doctor_rules_markdown()
    for r in rule_table():
        section = page[page.index(f"## `{r.id}` {{ #{r.id} }}"):]
        section = section[: section.find("\n## ", 5)]
        assert r.title in section and r.why in section and f"`{r.formula}`" in section and r.fix in section, r.id
        assert f"[`{r.id}`](#{r.id}) | {r.severity} |" in page
    for kind, (seconds, _) in LB_DEFAULTS.items():
        assert f"| `{kind}` | {seconds} s |" in page


def test_rules_page_is_generated_committed_and_in_the_nav() -> None:
    gen = load_module(ROOT / "scripts" / "gen_docs.py", "gen_docs")
    assert "doctor-rules.md" in gen.GENERATED
    assert (ROOT / "docs" / "doctor-rules.md").read_text(encoding="utf-8") == gen.doctor_rules_markdown()
    nav = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)["nav"]
    assert any("doctor-rules.md" in item.values() for item in nav)
