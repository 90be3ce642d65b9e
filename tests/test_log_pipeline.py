"""The Fluent Bit files a generated service ships (deploy/fluent-bit/) are the ones docs/operations.md shows."""

from __future__ import annotations

import re
from pathlib import Path

import gen


def test_fluent_bit_files_equal_the_documented_config(tmp_path: Path) -> None:
    project = gen.render(tmp_path / "svc", {"service_name": "my-service"})
    doc = (gen.ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    match = re.search(r"### Fluent Bit\n.*?```ini\n(.*?)```", doc, re.S)
    assert match, "the Fluent Bit block is gone from docs/operations.md"
    shipped = project / "deploy" / "fluent-bit"
    assert match.group(1) == ("# parsers.conf\n" + (shipped / "parsers.conf").read_text()
                              + "\n# fluent-bit.conf\n" + (shipped / "fluent-bit.conf").read_text())
    conf = (shipped / "fluent-bit.conf").read_text()
    assert "/var/log/containers/my-service-*.log" in conf and "multiline.parser  cri" in conf
    assert "Time_Key    ts" in (shipped / "parsers.conf").read_text()
