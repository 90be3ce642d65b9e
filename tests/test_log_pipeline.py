"""The Fluent Bit files a generated service ships (deploy/fluent-bit/) are the ones docs/operations.md shows."""

from __future__ import annotations

import fnmatch
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
    assert "multiline.parser  cri" in conf
    (path,) = re.findall(r"(?m)^\s*Path\s+(\S+)$", conf)
    # The kubelet's file name: <pod>_<namespace>_<container>-<container id>.log; the chart's container is
    # named after the chart, its pods after the release (`<release>-<chart>-<hash>-<id>`, or the chart name
    # alone when the release name contains it).
    cid = "0123456789abcdef" * 4
    for pod, ns in (("my-service-7d9f8b6c4-x2x9z", "my-service"), ("prod-my-service-7d9f8b6c4-x2x9z", "shop"),
                    ("rel-7d9f8b6c4-x2x9z", "default")):
        assert fnmatch.fnmatchcase(f"/var/log/containers/{pod}_{ns}_my-service-{cid}.log", path), (path, pod)
    for other in (f"my-service-7d9f8b6c4-x2x9z_shop_istio-proxy-{cid}.log", f"prod-web-1_shop_web-{cid}.log"):
        assert not fnmatch.fnmatchcase(f"/var/log/containers/{other}", path), (path, other)
    assert "Time_Key    ts" in (shipped / "parsers.conf").read_text()
