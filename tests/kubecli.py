"""kubectl and helm 4 from .tools/bin against a test API server or cluster (shared by apiserver.py and cluster.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

TOOLS_BIN = Path(__file__).resolve().parents[1] / ".tools" / "bin"


class KubeCLI:
    """Mixin: kubectl/helm runs with the class's `env` (KUBECONFIG, helm homes); a failure raises with the output."""

    #: Seconds a helm command may take before the test fails.
    helm_timeout: float = 180

    @property
    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the server."""
        return self._run("kubectl", args, input, check, timeout)

    def helm(self, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run helm 4 against the server."""
        return self._run("helm", args, None, check, timeout or self.helm_timeout)

    def get_json(self, *args: str) -> Any:
        """Return `kubectl get ... -o json` parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def _run(self, tool: str, args: tuple[str, ...], input: str | None, check: bool,
             timeout: float) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(TOOLS_BIN / tool), *args], input=input, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc
