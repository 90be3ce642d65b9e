"""Traffic from inside a pod's network namespace, for the cluster's NetworkPolicy tests.

A thread of the test process joins the pod's network namespace (setns(2) changes the calling thread
only) and opens its sockets there: they leave through the pod's own interface with the pod's IP, so
the NetworkPolicy enforcer treats them exactly like the pod's traffic. The pod runs the suite's pause
image; the probes need no image with a shell.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_of(ip: str) -> Path:
    """The network namespace (/run/netns/cni-...) holding the pod address `ip`."""
    for ns in sorted(Path("/run/netns").glob("cni-*")):
        out = subprocess.run(["ip", "-n", ns.name, "-o", "-4", "addr"], capture_output=True, text=True,
                             check=False).stdout
        if any(f" {ip}/" in line for line in out.splitlines()):
            return ns
    raise LookupError(f"no network namespace holds {ip}")


def enter(ns: Path) -> None:
    """Move the calling thread into network namespace `ns`."""
    fd = os.open(ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in(ns: Path, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on a fresh thread inside `ns` and return its result (or raise its exception)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            enter(ns)
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def http_get(ip: str, port: int, path: str = "/", timeout: float = 3) -> str:
    """`HTTP <status>` for a GET, or the error's class name (refused, timed out, reset)."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return f"HTTP {resp.status}"
    except OSError as exc:
        return type(exc).__name__
    finally:
        conn.close()


def tcp_connect(ip: str, port: int, timeout: float = 3) -> str:
    """`connected`, or the error's class name."""
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return "connected"
    except OSError as exc:
        return type(exc).__name__


def dns_a(server: str, name: str, timeout: float = 3) -> str:
    """One UDP DNS query for the A record of `name`: the first address, or the error/rcode."""
    query = struct.pack(">HHHHHH", 0x5EED, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query, (server, 53))
            reply, _ = s.recvfrom(4096)
        except OSError as exc:
            return type(exc).__name__
    rcode, answers = reply[3] & 0x0F, struct.unpack(">H", reply[6:8])[0]
    if rcode or not answers:
        return f"rcode {rcode}, {answers} answers"
    return socket.inet_ntoa(reply[-4:])


@contextlib.contextmanager
def listening(ns: Path, port: int) -> Iterator[socket.socket]:
    """A TCP listener on 0.0.0.0:`port` inside `ns` that accepts and closes every connection."""
    sock = run_in(ns, lambda: socket.create_server(("0.0.0.0", port)))
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield sock
    finally:
        stop.set()
        t.join(5)
        sock.close()
