"""`gosmith doctor`, output side: the table (grouped by workload), JSON, and SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gosmith import __version__
from gosmith.doctor_rules import SEVERITIES, Report, rule_table

#: SARIF level of each severity.
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _summary(report: Report) -> dict[str, int]:
    counts = {s: 0 for s in SEVERITIES}
    for f in report.findings:
        counts[f.severity] += 1
    return {"workloads": len(report.workloads), "findings": len(report.findings), **counts}


def table(report: Report) -> str:
    """Return the readable report: findings grouped by workload, then a summary line and notes."""
    lines: list[str] = []
    if not report.workloads:
        lines.append("No workloads found (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Rollout).")
    by_workload: dict[str, list[Any]] = {}
    for f in report.findings:
        by_workload.setdefault(f.workload, []).append(f)
    width = max((len(f.rule) for f in report.findings), default=0)
    for w in report.workloads:
        found = by_workload.get(w.ref, [])
        where = w.doc.source if w.doc.rendered else f"{w.doc.source}:{w.doc.line}"
        lines.append(f"{w.ref}  ({where})" + ("" if found else ": no findings"))
        for f in found:
            container = f"[{f.container}] " if f.container else ""
            lines.append(f"  {f.severity.upper():<8} {f.rule:<{width}}  {container}{f.message}")
            lines.append(f"  {'':<8} {'':<{width}}  fix: {f.fix}")
    s = _summary(report)
    lines.append("")
    lines.append(
        f"{s['workloads']} workload(s), {s['findings']} finding(s): {s['error']} error(s), "
        f"{s['warning']} warning(s), {s['info']} info"
    )
    if report.notes:
        lines.append("Not fully checked:")
        lines.extend(f"  - {n}" for n in report.notes)
    return "\n".join(lines)


def to_json(report: Report) -> str:
    """Return the machine-readable report."""
    doc = {
        "tool": "gosmith doctor",
        "version": __version__,
        "summary": _summary(report),
        "workloads": [
            {"workload": w.ref, "kind": w.kind, "namespace": w.namespace, "name": w.name, "source": w.doc.source,
             "line": w.doc.line, "containers": [c.name for c in w.containers],
             "native_sidecars": [c.name for c in w.sidecars]}
            for w in report.workloads
        ],
        "findings": [f.as_dict() for f in report.findings],
        "notes": report.notes,
    }
    return json.dumps(doc, indent=2)


def _uri(source: str) -> str:
    if source == "stdin":
        return "stdin"
    p = Path(source)
    return p.as_uri() if p.is_absolute() else p.as_posix()


def to_sarif(report: Report) -> str:
    """Return a SARIF 2.1.0 log (one run) that GitHub code scanning accepts."""
    rules = rule_table()
    index = {r.id: i for i, r in enumerate(rules)}
    driver = {
        "name": "gosmith-doctor",
        "semanticVersion": __version__,
        "rules": [
            {
                "id": r.id,
                "name": "".join(part.capitalize() for part in r.id.split("-")),
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.why},
                "help": {
                    "text": f"Checks: {r.formula}. Fix: {r.fix}",
                    "markdown": f"**Checks:** `{r.formula}`\n\n**Why:** {r.why}\n\n**Fix:** {r.fix}",
                },
                "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
                "properties": {"tags": ["kubernetes", "go", "reliability"]},
            }
            for r in rules
        ],
    }
    results = []
    for f in report.findings:
        who = f.workload + (f"/{f.container}" if f.container else "")
        key = "\0".join((f.rule, f.workload, f.container or "", f.field))
        results.append({
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{who}: {f.message}. Fix: {f.fix}."},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": _uri(f.source)}, "region": {"startLine": f.line}},
                "logicalLocations": [{"fullyQualifiedName": f"{who}:{f.field}", "kind": "member"}],
            }],
            "partialFingerprints": {"gosmithDoctor/v1": hashlib.sha256(key.encode()).hexdigest()[:32]},
            "properties": {"numbers": f.numbers, "formula": f.formula},
        })
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}
    return json.dumps(log, indent=2)
