"""A real Kubernetes API server for the suite: etcd + kube-apiserver on 127.0.0.1, built by scripts/kube-tools.sh.

The server runs with its default admission plugins (PodSecurity included), RBAC and a static token;
`--endpoint-reconciler-type=none` keeps it from publishing an endpoint for the machine's addresses.
It runs no controllers: Deployments get no Pods and namespaces get no `default` ServiceAccount.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kubecli import TOOLS_BIN, KubeCLI

TOKEN = "gosmith-suite-admin-token"
#: Addresses the server only stores (no traffic goes there: there are no nodes, pods or proxies).
SERVICE_CIDR = "10.250.0.0/16"


def binaries() -> dict[str, Path] | None:
    """Return the etcd, kube-apiserver and kubectl binaries, or None when they are not built."""
    found = {name: TOOLS_BIN / name for name in ("etcd", "kube-apiserver", "kubectl")}
    return found if all(p.is_file() and os.access(p, os.X_OK) for p in found.values()) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(args: list[str], cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d: Path) -> None:
    """Write a CA, a serving certificate for 127.0.0.1/localhost and a service-account key pair into `d`."""
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
              "-days", "2", "-subj", "/CN=gosmith-test-ca"], d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n")
    _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
              "-subj", "/CN=kube-apiserver"], d)
    _openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", "server.crt", "-days", "2", "-extfile", "san.cnf"], d)
    _openssl(["genrsa", "-out", "sa.key", "2048"], d)
    _openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], d)


@dataclass
class APIServer(KubeCLI):
    """A running etcd + kube-apiserver pair and the kubeconfig that reaches it."""

    workdir: Path
    port: int = 0
    kubeconfig: Path = field(init=False)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kubeconfig = self.workdir / "kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        """Environment for kubectl and helm against this server."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "NO_PROXY": "127.0.0.1,localhost",
            "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HELM_CACHE_HOME": str(self.workdir / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.workdir / "helm-config"),
            "HELM_DATA_HOME": str(self.workdir / "helm-data"),
        }

    def start(self, timeout: float = 120) -> None:
        """Start etcd and the API server; return once /readyz answers ok."""
        bins = binaries()
        assert bins, "kube binaries missing: run scripts/kube-tools.sh"
        d = self.workdir
        d.mkdir(parents=True, exist_ok=True)
        make_certs(d)
        (d / "tokens.csv").write_text(f'{TOKEN},gosmith-admin,gosmith-admin-uid,"system:masters"\n')
        etcd_client, etcd_peer = _free_port(), _free_port()
        self.port = _free_port()
        etcd_log = open(d / "etcd.log", "wb")  # noqa: SIM115 - closed with the process in stop()
        self.procs.append(subprocess.Popen(
            [str(bins["etcd"]), "--name", "suite", "--data-dir", str(d / "etcd"), "--unsafe-no-fsync",
             "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
             "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
             "--initial-cluster", f"suite=http://127.0.0.1:{etcd_peer}",
             "--listen-metrics-urls", "", "--log-level", "warn"],
            stdout=etcd_log, stderr=subprocess.STDOUT,
        ))
        api_log = open(d / "apiserver.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            [str(bins["kube-apiserver"]),
             f"--etcd-servers=http://127.0.0.1:{etcd_client}",
             "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
             f"--tls-cert-file={d / 'server.crt'}", f"--tls-private-key-file={d / 'server.key'}",
             f"--token-auth-file={d / 'tokens.csv'}", "--authorization-mode=RBAC",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={d / 'sa.pub'}", f"--service-account-signing-key-file={d / 'sa.key'}",
             f"--service-cluster-ip-range={SERVICE_CIDR}", "--endpoint-reconciler-type=none",
             "--kubelet-preferred-address-types=InternalIP", "--profiling=false", "--allow-privileged=false",
             f"--cert-dir={d / 'certs'}", "--v=0"],
            stdout=api_log, stderr=subprocess.STDOUT,
        ))
        ca = (d / "ca.crt").read_text()
        import base64

        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "suite",
            "clusters": [{"name": "suite", "cluster": {
                "server": f"https://127.0.0.1:{self.port}",
                "certificate-authority-data": base64.b64encode(ca.encode()).decode()}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "suite", "context": {"cluster": "suite", "user": "admin"}}],
        }))
        ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited {proc.returncode}; see {d}/*.log:\n{self.logs()}")
            try:
                req = urllib.request.Request(f"https://127.0.0.1:{self.port}/readyz",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except Exception as exc:  # not up yet
                last = exc
            time.sleep(0.25)
        raise RuntimeError(f"API server not ready after {timeout}s ({last}):\n{self.logs()}")

    def logs(self) -> str:
        """Return the tail of both logs."""
        out = []
        for name in ("etcd.log", "apiserver.log"):
            path = self.workdir / name
            if path.exists():
                out.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(out)

    def stop(self) -> None:
        """Stop the API server, then etcd."""
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        shutil.rmtree(self.workdir / "etcd", ignore_errors=True)

    def serve_crds(self, crds: dict[str, str]) -> None:
        """Apply the CRDs (YAML by kind) and wait until each is established."""
        for manifest in crds.values():
            self.kubectl("apply", "--server-side", "-f", "-", input=manifest)
        self.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")

    def restricted_namespace(self, name: str) -> str:
        """Create namespace `name` enforcing PodSecurity restricted, with the `default` ServiceAccount."""
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted"}},
        }))
        # No controller-manager: create the ServiceAccount its controller would.
        self.kubectl("-n", name, "create", "serviceaccount", "default", check=False)
        return name
