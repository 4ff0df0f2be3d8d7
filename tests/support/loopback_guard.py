"""Refuse, and count, every socket connection or name lookup that leaves this machine.

Tests must never reach the network; this makes a slip visible instead of silent. Used in
the test process (`block_non_loopback`) and, through `SITECUSTOMIZE`, in subprocesses a
test launches (each refusal is printed to stderr with `BLOCKED_MARK`).
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any, Callable

BLOCKED_MARK = "loopback-guard blocked"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback_host(host: Any) -> bool:
    if host is None or host == "":
        return True   # bind-any / local lookups
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%")[0]
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address_host(address: Any) -> Any:
    # AF_INET / AF_INET6 addresses are tuples; AF_UNIX ones are paths (always local).
    return address[0] if isinstance(address, tuple) and address else None


def block_non_loopback(record: Callable[[str], None]) -> Callable[[], None]:
    """Patch socket connect/lookup to refuse non-loopback hosts; returns the undo function."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def refuse(host: Any) -> OSError:
        record(str(host))
        return ConnectionRefusedError(f"{BLOCKED_MARK}: tests may not reach {host}")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback_host(_address_host(address)):
            raise refuse(_address_host(address))
        return original_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback_host(_address_host(address)):
            raise refuse(_address_host(address))
        return original_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not is_loopback_host(host):
            raise refuse(host)
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo

    def undo() -> None:
        socket.socket.connect = original_connect
        socket.socket.connect_ex = original_connect_ex
        socket.getaddrinfo = original_getaddrinfo

    return undo


# Written as sitecustomize.py into a folder put first on a subprocess's PYTHONPATH (with
# the repository's root after it), so the whole subprocess runs under the guard.
SITECUSTOMIZE = f"""\
import sys
import tests.support.loopback_guard as loopback_guard
loopback_guard.block_non_loopback(
    lambda host: print("{BLOCKED_MARK}:", host, file=sys.stderr, flush=True))
"""
