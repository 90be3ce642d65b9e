"""A real single-node Kubernetes cluster for the `cluster` tests, built by scripts/cluster-tools.sh.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (+ runc), kubelet and
kube-proxy (iptables mode) of this machine, each started as a process of its own under one temporary
directory, and CoreDNS (the real binary with its `kubernetes` plugin) as a Deployment in the cluster.
With `network_policy=True` a NetworkPolicy enforcer runs too: kube-router's network policy controller
(iptables + ipset, its router and service proxy off), a process of its own like kube-proxy. Pod-to-pod
traffic on the bridge passes iptables (bridge-nf-call-iptables, set on the bridge itself), so the
enforcer sees pod sources; traffic from the node itself is always allowed (kube-router accepts
sources local to the node: the kubelet's probes, and the test process's own connections).

Networking is isolated: a Linux bridge (BRIDGE) that connects nothing but the pods and the node
(no uplink, no NAT, no default route in the pods), the pod CIDR and the service CIDR (routed to the
bridge) are checked not to overlap any address or route of the machine, and every control-plane
component listens on the bridge's gateway address or 127.0.0.1. Pod DNS knows only the cluster zone.

`stop()` undoes everything `start()` did: pods removed, every process stopped by its PID (containerd's
shims too), the iptables chains kubelet, kube-proxy and the enforcer made removed (and the enforcer's
ipsets), the sysctls the kubelet set restored, the mounts under the work directory unmounted, the bridge
and the pods' network namespaces deleted.
"""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubecli import TOOLS_BIN, KubeCLI

ROOT = Path(__file__).resolve().parents[1]
CNI_BIN = ROOT / ".tools" / "cni" / "bin"

BRIDGE = "gsm0"
POD_CIDR = "10.213.0.0/24"
GATEWAY = "10.213.0.1"
SERVICE_CIDR = "10.214.0.0/24"
DNS_IP = "10.214.0.10"
NODE = "gosmith-node"
PAUSE_IMAGE = "gosmith.local/pause:suite"
TEST_CLIENT_IMAGE = "gosmith.local/test-client:suite"
COREDNS_IMAGE = "gosmith.local/coredns:suite"
#: sysctls the kubelet sets (protectKernelDefaults: false): recorded at start, restored at stop.
KUBELET_SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
                   "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes")
BUILT = ("etcd", "kube-apiserver", "kubectl", "kubelet", "kube-proxy", "kube-controller-manager",
         "kube-scheduler", "pause", "wget", "crane", "coredns")
#: What `network_policy=True` needs besides: the enforcer (scripts/cluster-tools.sh) and Debian's ipset.
ENFORCER_BUILT = ("kube-router",)
ENFORCER_SYSTEM = ("ipset",)
#: Prefixes of the ipsets kube-router's network policy controller makes (removed at stop when new).
ENFORCER_IPSETS = ("KUBE-SRC-", "KUBE-DST-", "inet6:KUBE-SRC-", "inet6:KUBE-DST-")
SYSTEM = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "iptables-save", "ip6tables",
          "ip", "openssl", "mount", "umount")


class Unavailable(RuntimeError):
    """The cluster cannot start on this machine now (not a fault of the code under test)."""


def missing(network_policy: bool = False) -> str | None:
    """Why this machine cannot run the cluster (with the NetworkPolicy enforcer when asked), or None when it can."""
    if os.environ.get("GOSMITH_SKIP_CLUSTER") == "1":
        return "GOSMITH_SKIP_CLUSTER=1"
    if os.geteuid() != 0:
        return "the cluster tests need root (kubelet, containerd, iptables, a bridge)"
    if not Path("/sys/fs/cgroup").is_dir():
        return "no /sys/fs/cgroup"
    built = BUILT + (ENFORCER_BUILT if network_policy else ())
    absent = [n for n in built if not os.access(TOOLS_BIN / n, os.X_OK)]
    absent += [f"cni/{n}" for n in ("bridge", "host-local", "loopback") if not os.access(CNI_BIN / n, os.X_OK)]
    absent += [n for n in SYSTEM + (ENFORCER_SYSTEM if network_policy else ()) if shutil.which(n) is None]
    if absent:
        return f"cluster tools missing: {', '.join(absent)} (run scripts/cluster-tools.sh)"
    return overlap()


def overlap() -> str | None:
    """Why the pod/service CIDRs or the bridge clash with this machine, or None."""
    nets = [ipaddress.ip_network(POD_CIDR), ipaddress.ip_network(SERVICE_CIDR)]
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[2] in ("inet", "inet6"):
            iface = ipaddress.ip_interface(parts[3])
            if parts[1] != BRIDGE and any(iface.network.overlaps(n) for n in nets if n.version == iface.version):
                return f"{iface} on {parts[1]} overlaps the cluster's CIDRs {POD_CIDR}/{SERVICE_CIDR}"
    routes = subprocess.run(["ip", "-o", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                            check=True).stdout
    for line in routes.splitlines():
        dst = line.split()[0]
        if dst in ("default", "broadcast", "local", "unreachable", "multicast") or f"dev {BRIDGE}" in line:
            continue
        with contextlib.suppress(ValueError):
            if any(ipaddress.ip_network(dst, strict=False).overlaps(n) for n in nets):
                return f"route {line.strip()} overlaps the cluster's CIDRs"
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        return f"interface {BRIDGE} exists already (another cluster running, or one left behind)"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], *, check: bool = True, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _openssl(args: list[str], cwd: Path) -> None:
    _run(["openssl", *args], cwd=cwd, timeout=60)


def _read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def _write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", name).write_text(value + "\n")


def _iptables_cleanup(command: str, before: str) -> None:
    """Remove the chains named KUBE-*/CNI-* (and the rules jumping to them) that were not in `before`."""
    save = _run([f"{command}-save"], check=False).stdout
    table = ""
    jumps: list[tuple[str, str]] = []
    chains: list[tuple[str, str]] = []
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            name = line[1:].split()[0]
            if name.startswith(("KUBE-", "CNI-")) and f":{name} " not in before:
                chains.append((table, name))
        elif line.startswith("-A "):
            words = line.split()
            if "-j" in words and words[words.index("-j") + 1].startswith(("KUBE-", "CNI-")) \
                    and not words[1].startswith(("KUBE-", "CNI-")) and line not in before:
                jumps.append((table, line))
    for table, rule in jumps:
        _run([command, "-w", "5", "-t", table, "-D", *shlex.split(rule)[1:]], check=False)  # quoted comments
    for table, name in chains:
        _run([command, "-w", "5", "-t", table, "-F", name], check=False)
    for table, name in chains:
        _run([command, "-w", "5", "-t", table, "-X", name], check=False)


def _tar_layer(files: dict[str, Path]) -> bytes:
    """A tar layer holding `files` (path in the image -> file here), executable, owned by root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for dest in files:
            parts = dest.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for dest, src in files.items():
            info = tarfile.TarInfo(dest.strip("/"))
            data = src.read_bytes()
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Cluster(KubeCLI):
    """A running single-node cluster under `workdir`; `kubectl`/`helm` reach it with `env`."""

    helm_timeout = 300
    workdir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_port: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    #: Run the NetworkPolicy enforcer (kube-router's network policy controller).
    network_policy: bool = False
    _ipsets_before: set[str] | None = None
    _sysctls: dict[str, str] = field(default_factory=dict)
    _netns_before: set[str] = field(default_factory=set)
    _iptables_before: dict[str, str] = field(default_factory=dict)
    _bridge_made: bool = False
    _cgroups_made: list[Path] = field(default_factory=list)
    kubelet_restarts: int = 0
    _cni_cache_existed: bool = True
    _cni_cache_before: set[str] | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def sock(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def env(self) -> dict[str, str]:
        """Environment for kubectl and helm against this cluster."""
        d = self.workdir
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "NO_PROXY": f"127.0.0.1,localhost,{GATEWAY},{POD_CIDR},{SERVICE_CIDR}",
            "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HELM_CACHE_HOME": str(d / "helm-cache"),
            "HELM_CONFIG_HOME": str(d / "helm-config"),
            "HELM_DATA_HOME": str(d / "helm-data"),
        }

    # ---- helpers

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run(["ctr", "--address", str(self.sock), "-n", "k8s.io", *args], check=check, timeout=timeout)

    def restricted_namespace(self, name: str) -> str:
        """Create namespace `name` enforcing PodSecurity restricted; wait for its `default` ServiceAccount."""
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted"}}})
        self.wait(lambda: self.kubectl("-n", name, "get", "serviceaccount", "default", check=False).returncode == 0,
                  30, f"ServiceAccount default in {name}")
        return name

    def wait(self, cond: Any, timeout: float, what: str, interval: float = 0.5, may_exit: str = "") -> None:
        """Poll `cond` until true; fail when a component (other than `may_exit`) exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(may_exit)
            if cond():
                return
            time.sleep(interval)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")

    def _check_alive(self, may_exit: str = "") -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None and name != may_exit:
                raise RuntimeError(f"{name} exited {proc.returncode}\n{self.logs(name)}")

    def logs(self, *names: str, lines: int = 25) -> str:
        out = []
        for name in names or tuple(self.procs):
            path = self.workdir / "logs" / f"{name}.log"
            if path.exists():
                out.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / "logs" / f"{name}.log", "wb")  # noqa: SIM115 - kept open by the process
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env={**os.environ, **(env or {})}, start_new_session=True)
        log.close()

    def _kubeconfig(self, path: Path, token: str) -> Path:
        ca = (self.workdir / "pki" / "ca.crt").read_bytes()
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "suite",
            "clusters": [{"name": "suite", "cluster": {"server": f"https://{GATEWAY}:{self.api_port}",
                                                       "certificate-authority-data": base64.b64encode(ca).decode()}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "suite", "context": {"cluster": "suite", "user": "u"}}],
        }))
        return path

    # ---- start

    def start(self) -> None:
        """Start the whole cluster; return once the node is Ready and CoreDNS serves."""
        t0 = time.monotonic()
        d = self.workdir
        for sub in ("logs", "pki", "etcd", "containerd", "kubelet", "cni/net.d", "cni/ipam", "manifests", "images",
                    "pod-logs", "volume-plugins"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self._sysctls = {k: v for k in KUBELET_SYSCTLS if (v := _read_sysctl(k)) is not None}
        self._netns_before = set(os.listdir("/run/netns")) if Path("/run/netns").is_dir() else set()
        self._cni_cache_existed = Path("/var/lib/cni").is_dir()
        results = Path("/var/lib/cni/results")
        self._cni_cache_before = set(os.listdir(results)) if results.is_dir() else set()
        self._iptables_before = {c: _run([f"{c}-save"], check=False).stdout for c in ("iptables", "ip6tables")}
        if self.network_policy:
            self._ipsets_before = set(_run(["ipset", "list", "-n"], check=False).stdout.split())
        # the kubelet's QoS cgroups (/kubepods in every hierarchy) are removed at stop unless they were here
        self._cgroups_made = [h / "kubepods" for h in Path("/sys/fs/cgroup").iterdir()
                              if h.is_dir() and not (h / "kubepods").exists()]

        # The bridge first: the API server and the kubelet listen on its address.
        made = _run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=False)
        if made.returncode != 0:  # e.g. another test session's cluster started at the same moment
            raise Unavailable(f"cannot create the bridge {BRIDGE}: {made.stderr.strip()}")
        self._bridge_made = True
        _run(["ip", "addr", "add", f"{GATEWAY}/{POD_CIDR.split('/')[1]}", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        _run(["ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", GATEWAY])
        # Routing between pods and ClusterIPs happens on this interface only (not the machine's ip_forward).
        _write_sysctl(f"net/ipv4/conf/{BRIDGE}/forwarding", "1")
        _write_sysctl(f"net/ipv4/conf/{BRIDGE}/send_redirects", "0")
        _write_sysctl(f"net/ipv6/conf/{BRIDGE}/disable_ipv6", "1")
        if self.network_policy:
            # bridged pod-to-pod packets pass iptables (the enforcer's FORWARD rules) on this bridge only
            _run(["ip", "link", "set", BRIDGE, "type", "bridge", "nf_call_iptables", "1"])

        self._pki()
        tokens = {c: base64.b32encode(os.urandom(20)).decode().lower() for c in
                  ("admin", "controller-manager", "scheduler", "kubelet", "kube-proxy", "kube-router")}
        (d / "pki" / "tokens.csv").write_text("".join(
            f'{tok},system:gosmith:{c},uid-{c},"system:masters"\n' for c, tok in tokens.items()))

        etcd_client, etcd_peer = free_port(), free_port()
        self.api_port = free_port(GATEWAY)
        self._spawn("etcd", [
            str(TOOLS_BIN / "etcd"), "--name", "cluster", "--data-dir", str(d / "etcd"), "--unsafe-no-fsync",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"cluster=http://127.0.0.1:{etcd_peer}", "--listen-metrics-urls", "",
            "--log-level", "warn"])
        pki = d / "pki"
        self._spawn("kube-apiserver", [
            str(TOOLS_BIN / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            f"--bind-address={GATEWAY}", f"--advertise-address={GATEWAY}", f"--secure-port={self.api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC", "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet.key'}",
            "--profiling=false", "--allow-privileged=false", f"--cert-dir={pki / 'generated'}", "--v=0"])
        for c, tok in tokens.items():
            self._kubeconfig(d / f"{c}.kubeconfig", tok)
        self._wait_api()
        self.timings["apiserver"] = time.monotonic() - t0

        # containerd with its own root, state, socket and CNI configuration.
        self._containerd()
        self._images()
        self.timings["containerd+images"] = time.monotonic() - t0

        self._spawn("kube-controller-manager", [
            str(TOOLS_BIN / "kube-controller-manager"), f"--kubeconfig={d / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--use-service-account-credentials=false",
            "--profiling=false", "--v=0"])
        self._spawn("kube-scheduler", [
            str(TOOLS_BIN / "kube-scheduler"), f"--kubeconfig={d / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
            "--profiling=false", "--v=0"])
        self._kubelet()
        self._kube_proxy()
        self.wait(self._node_ready_or_restart_kubelet, 120, "node Ready", may_exit="kubelet")
        self.timings["node-ready"] = time.monotonic() - t0
        if self.network_policy:
            self._enforcer()
            self.timings["enforcer"] = time.monotonic() - t0
        self._coredns()
        self.timings["ready"] = time.monotonic() - t0

    def _wait_api(self) -> None:
        def ok() -> bool:
            return self.kubectl("--kubeconfig", str(self.workdir / "admin.kubeconfig"), "get", "--raw", "/readyz",
                                check=False, timeout=10).returncode == 0
        self.wait(ok, 120, "kube-apiserver /readyz", interval=0.3)

    def _pki(self) -> None:
        p = self.workdir / "pki"
        _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                  "-days", "2", "-subj", "/CN=gosmith-cluster-ca"], p)
        first_service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
        (p / "san.cnf").write_text(
            f"subjectAltName=IP:{GATEWAY},IP:{first_service_ip},IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n")
        (p / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
        for name, subj, ext in (("apiserver", "/CN=kube-apiserver", "san.cnf"),
                                ("apiserver-kubelet", "/O=system:masters/CN=kube-apiserver-kubelet-client",
                                 "client.cnf")):
            _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                      "-subj", subj], p)
            _openssl(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", f"{name}.crt", "-days", "2", "-extfile", ext], p)
        _openssl(["genrsa", "-out", "sa.key", "2048"], p)
        _openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], p)

    def _containerd(self) -> None:
        d = self.workdir
        c = d / "containerd"
        (d / "cni" / "net.d" / "10-gosmith.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "gosmith-suite",
            "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "isDefaultGateway": False, "ipMasq": False,
                "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(d / "cni" / "ipam"),
                         "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                         # the only route in a pod: the service CIDR through the node (no default route)
                         "routes": [{"dst": SERVICE_CIDR}]},
            }],
        }, indent=1))
        (c / "config.toml").write_text(f"""version = 2
root = "{c / 'root'}"
state = "{c / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{c / 'ttrpc.sock'}"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{c / 'opt'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{d / 'cni' / 'net.d'}"
""")
        self._spawn("containerd", ["containerd", "--config", str(c / "config.toml")])
        self.wait(lambda: self.sock.exists() and self.ctr("version", check=False).returncode == 0, 60,
                  "containerd socket")

    def image(self, ref: str, files: dict[str, Path], entrypoint: list[str], user: str = "65532:65532") -> None:
        """Make image `ref` (an empty base + `files`, run as `user`) with crane as an OCI tarball and import it."""
        d = self.workdir / "images" / ref.replace("/", "_").replace(":", "_")
        d.mkdir(parents=True, exist_ok=True)
        (d / "layer.tar").write_bytes(_tar_layer(files))
        crane = str(TOOLS_BIN / "crane")
        # crane edits an image in a registry: an in-memory one of its own on loopback, for this image only.
        port = free_port()
        reg = subprocess.Popen([crane, "registry", "serve", "--address", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            tmp_ref = f"127.0.0.1:{port}/img:latest"
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            _run([crane, "append", "--oci-empty-base", "-f", str(d / "layer.tar"),
                  "-t", tmp_ref, "--insecure"])
            _run([crane, "mutate", "--insecure", tmp_ref, "--user", user, "--entrypoint", ",".join(entrypoint),
                  "--set-platform", "linux/amd64", "-t", tmp_ref])
            shutil.rmtree(d / "oci", ignore_errors=True)
            _run([crane, "pull", "--insecure", "--format", "oci", tmp_ref, str(d / "oci")])
        finally:
            reg.terminate()
            reg.wait(10)
        index = json.loads((d / "oci" / "index.json").read_text())
        for m in index["manifests"]:
            m.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = ref
        (d / "oci" / "index.json").write_text(json.dumps(index))
        with tarfile.open(d / "image.tar", "w") as tar:
            for p in sorted((d / "oci").rglob("*")):
                tar.add(p, arcname=str(p.relative_to(d / "oci")), recursive=False)
        out = self.ctr("images", "import", str(d / "image.tar"), check=False)
        if ref not in self.ctr("images", "ls", "-q").stdout.split():
            raise RuntimeError(f"image {ref} not imported: {out.stdout}{out.stderr}")

    def _images(self) -> None:
        self.image(PAUSE_IMAGE, {"/pause": TOOLS_BIN / "pause"}, ["/pause"])
        self.image(TEST_CLIENT_IMAGE, {"/bin/wget": TOOLS_BIN / "wget"}, ["/bin/wget"])
        self.image(COREDNS_IMAGE, {"/coredns": TOOLS_BIN / "coredns"}, ["/coredns"])

    def _kubelet(self) -> None:
        d = self.workdir
        (d / "kubelet" / "resolv.conf").write_text("")  # pods know the cluster zone only
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "failCgroupV1": False, "cgroupDriver": "cgroupfs",
            "address": GATEWAY, "port": free_port(GATEWAY), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(d / "pki" / "ca.crt")}},
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDNS": [DNS_IP], "clusterDomain": "cluster.local",
            "resolvConf": str(d / "kubelet" / "resolv.conf"),
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "staticPodPath": str(d / "manifests"), "podLogsDir": str(d / "pod-logs"),
            "volumePluginDir": str(d / "volume-plugins"),
            "failSwapOn": False, "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "serializeImagePulls": False, "registerNode": True, "maxPods": 30,
            "syncFrequency": "10s", "fileCheckFrequency": "5s", "nodeStatusUpdateFrequency": "5s",
            "localStorageCapacityIsolation": True,
        }
        (d / "kubelet" / "config.json").write_text(json.dumps(config, indent=1))
        self._spawn("kubelet", [
            str(TOOLS_BIN / "kubelet"), f"--config={d / 'kubelet' / 'config.json'}",
            f"--kubeconfig={d / 'kubelet.kubeconfig'}", f"--root-dir={d / 'kubelet' / 'root'}",
            f"--cert-dir={d / 'kubelet' / 'pki'}", f"--hostname-override={NODE}", f"--node-ip={GATEWAY}",
            "--v=1"], env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})

    def _kube_proxy(self) -> None:
        d = self.workdir
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "iptables", "clientConnection": {"kubeconfig": str(d / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE, "bindAddress": "127.0.0.1",
            "healthzBindAddress": f"127.0.0.1:{free_port()}", "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "clusterCIDR": POD_CIDR, "nodePortAddresses": [f"{GATEWAY}/32"],
            # all service traffic is masqueraded to the bridge address: replies come back through the node
            # (no br_netfilter needed); no sysctl changed (route_localnet, conntrack limits)
            "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "30s",
                         "minSyncPeriod": "0s"},
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        (d / "kube-proxy.json").write_text(json.dumps(config, indent=1))
        self._spawn("kube-proxy", [str(TOOLS_BIN / "kube-proxy"), f"--config={d / 'kube-proxy.json'}", "--v=0"])

    def _enforcer(self) -> None:
        """kube-router's network policy controller only (no routes, no BGP, no service proxy, no listeners)."""
        d = self.workdir
        self._spawn("kube-router", [
            str(TOOLS_BIN / "kube-router"), f"--kubeconfig={d / 'kube-router.kubeconfig'}",
            f"--hostname-override={NODE}", "--run-firewall=true", "--run-router=false",
            "--run-service-proxy=false", "--run-loadbalancer=false", "--health-port=0", "--metrics-port=0",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--iptables-sync-period=1m", "--v=1"],
            env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})

        def synced() -> bool:
            rules = _run(["iptables-save", "-t", "filter"], check=False).stdout
            return ":KUBE-ROUTER-FORWARD" in rules and "-j KUBE-ROUTER-FORWARD" in rules
        self.wait(synced, 60, "kube-router's FORWARD chain")

    def _node_ready_or_restart_kubelet(self) -> bool:
        """The node is Ready; a kubelet that died while starting is started again, twice at most.

        Seen once in about ten starts here: the kubelet exits at start-up because renaming its
        pod-resources socket into place fails with EXDEV ("invalid cross-device link").
        """
        kubelet = self.procs["kubelet"]
        if kubelet.poll() is not None:
            if self.kubelet_restarts >= 2:
                raise RuntimeError(f"kubelet exited {kubelet.returncode} three times\n{self.logs('kubelet')}")
            self.kubelet_restarts += 1
            log = self.workdir / "logs" / "kubelet.log"
            log.rename(log.with_suffix(f".{self.kubelet_restarts}.log"))
            del self.procs["kubelet"]
            self._kubelet()
            return False
        return self._node_ready()

    def _node_ready(self) -> bool:
        proc = self.kubectl("get", "node", NODE, "-o", "json", check=False, timeout=10)
        if proc.returncode != 0:
            return False
        conds = json.loads(proc.stdout)["status"].get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def _coredns(self) -> None:
        corefile = ".:53 {\n    errors\n    health 127.0.0.1:8080\n    ready :8181\n" \
                   "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n        pods insecure\n" \
                   "        fallthrough in-addr.arpa ip6.arpa\n        ttl 5\n    }\n    cache 5\n    loop\n}\n"
        labels = {"k8s-app": "kube-dns"}
        restricted = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                      "readOnlyRootFilesystem": True}
        self.apply(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": "gosmith:coredns"},
             "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                        "verbs": ["list", "watch"]},
                       {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                        "verbs": ["list", "watch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": "gosmith:coredns"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gosmith:coredns"},
             "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
             "data": {"Corefile": corefile}},
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                 "metadata": {"labels": labels},
                 "spec": {"serviceAccountName": "coredns", "dnsPolicy": "Default", "priorityClassName":
                          "system-cluster-critical",
                          # port 53 in the pod as in real clusters (NetworkPolicy DNS rules name the pod's
                          # port, 53), without root: a safe sysctl of the pod's own network namespace
                          "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                              "seccompProfile": {"type": "RuntimeDefault"},
                                              "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start",
                                                           "value": "53"}]},
                          "containers": [{
                              "name": "coredns", "image": COREDNS_IMAGE, "imagePullPolicy": "Never",
                              "args": ["-conf", "/etc/coredns/Corefile"],
                              "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}],
                              "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
                              "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                            "limits": {"memory": "128Mi"}},
                              "securityContext": restricted,
                              "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}]}],
                          "volumes": [{"name": "config", "configMap": {"name": "coredns"}}]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
             "spec": {"clusterIP": DNS_IP, "selector": labels, "ports": [
                 {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                 {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"}]}},
        )
        self.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s", timeout=150)

    # ---- stop

    def stop(self) -> None:
        """Tear everything down (safe to call on a half-started cluster)."""
        t0 = time.monotonic()
        api_up = "kube-apiserver" in self.procs and self.procs["kube-apiserver"].poll() is None
        if api_up and "kubelet" in self.procs:
            # every pod away through the kubelet (CNI DEL, network namespaces removed)
            with contextlib.suppress(Exception):
                nss = [n["metadata"]["name"] for n in self.get_json("namespaces")["items"]]
                for ns in nss:
                    if ns not in ("default", "kube-system", "kube-public", "kube-node-lease"):
                        self.kubectl("delete", "namespace", ns, "--wait=false", check=False)
                for kind in ("deployments", "replicasets", "daemonsets", "statefulsets", "jobs"):
                    self.kubectl("delete", kind, "--all", "-A", "--wait=false", check=False)
                self.kubectl("delete", "pods", "--all", "-A", "--grace-period=0", "--force", check=False)
            with contextlib.suppress(Exception):
                self.wait(lambda: not self._running_tasks(), 10, "pod containers stopped")
            with contextlib.suppress(Exception):  # a container still draining: kill it, the kubelet cleans up
                for task in self._running_tasks():
                    self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
                self.wait(lambda: not self._running_tasks(), 30, "pod containers stopped")
        for name in ("kube-router", "kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager"):
            self._terminate(name)
        if "containerd" in self.procs and self.procs["containerd"].poll() is None:
            with contextlib.suppress(Exception):
                for task in self._running_tasks():
                    self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        self._terminate("containerd")
        self._kill_leftovers()
        for name in ("kube-apiserver", "etcd"):
            self._terminate(name)
        if os.access(TOOLS_BIN / "kube-proxy", os.X_OK) and self._iptables_before:
            _run([str(TOOLS_BIN / "kube-proxy"), "--cleanup", "--v=0"], check=False)
        for command, before in self._iptables_before.items():
            _iptables_cleanup(command, before)
        if self._ipsets_before is not None:  # the enforcer's sets, once no rule refers to them
            for name in _run(["ipset", "list", "-n"], check=False).stdout.split():
                if name.startswith(ENFORCER_IPSETS) and name not in self._ipsets_before:
                    _run(["ipset", "destroy", name], check=False)
        self._unmount()
        if Path("/run/netns").is_dir():
            for ns in set(os.listdir("/run/netns")) - self._netns_before:
                if ns.startswith("cni-"):
                    _run(["umount", "-l", f"/run/netns/{ns}"], check=False)
                    with contextlib.suppress(OSError):
                        os.unlink(f"/run/netns/{ns}")
        self._remove_cgroups()
        if self._bridge_made:
            _run(["ip", "link", "del", BRIDGE], check=False)
            self._bridge_made = False
        for name, value in self._sysctls.items():
            if _read_sysctl(name) != value:
                _write_sysctl(name, value)
        # libcni's cache (containerd keeps it in /var/lib/cni): the entries of our pods, the directory if we made it
        cache = Path("/var/lib/cni")
        if cache.is_dir() and self._cni_cache_before is not None:
            for entry in (cache / "results").glob("*"):
                if entry.name not in self._cni_cache_before:
                    with contextlib.suppress(OSError):
                        entry.unlink()
            if not self._cni_cache_existed:
                shutil.rmtree(cache, ignore_errors=True)
        self.timings["teardown"] = time.monotonic() - t0

    def enforcer_leftovers(self) -> list[str]:
        """The enforcer's iptables chains and ipsets still present that were not there before start()."""
        left = []
        for command, before in self._iptables_before.items():
            for line in _run([f"{command}-save"], check=False).stdout.splitlines():
                name = line[1:].split()[0] if line.startswith(":") else ""
                if name.startswith(("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")) and f":{name} " not in before:
                    left.append(f"{command} chain {name}")
        if self._ipsets_before is not None:
            left += [f"ipset {n}" for n in _run(["ipset", "list", "-n"], check=False).stdout.split()
                     if n.startswith(ENFORCER_IPSETS) and n not in self._ipsets_before]
        return left

    def _running_tasks(self) -> list[str]:
        out = self.ctr("tasks", "ls", check=False, timeout=20).stdout.splitlines()[1:]
        return [line.split()[0] for line in out if "RUNNING" in line]

    def _terminate(self, name: str, timeout: float = 20) -> None:
        proc = self.procs.get(name)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _kill_leftovers(self) -> None:
        """Stop the processes containerd left (its shims and their children), found by our socket path."""
        ours = str(self.workdir)
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if ours in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:  # reap the ones that are our children
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)

    def _unmount(self) -> None:
        ours = str(self.workdir)
        for _ in range(3):
            mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
            mine = sorted({m.replace("\\040", " ") for m in mounts if m.startswith(ours)}, key=len, reverse=True)
            if not mine:
                return
            for m in mine:
                _run(["umount", "-l", m], check=False)

    def _remove_cgroups(self) -> None:
        for top in self._cgroups_made:
            if not top.is_dir():
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: len(t[0]), reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
