"""Refuse, and count, every socket connection or name lookup that leaves this machine.

Tests must never reach the network; this makes a slip visible instead of silent. The refusal
comes before anything is sent: a connect, a datagram or a name lookup for another host raises
ConnectionRefusedError in the caller, no packet and no DNS query leaves. Loopback
(127.0.0.0/8, ::1, localhost) and Unix sockets are allowed.

tests/conftest.py installs a `RecordingGuard` for the whole session and fails every test
during which something was refused, naming the host (many callers, such as telemetry
threads, swallow the error). Subprocesses a test launches can run under the guard through
`SITECUSTOMIZE` (each refusal is printed to stderr with `BLOCKED_MARK`).
"""
from __future__ import annotations

import ipaddress
import socket
import threading
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
    """Patch socket connect/sendto and name lookups to refuse non-loopback hosts (each refused
    host is passed to `record` first); returns the undo function."""
    originals = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto")}
    lookups = {name: getattr(socket, name) for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex")}

    def refuse(host: Any) -> OSError:
        record(str(host))
        return ConnectionRefusedError(f"{BLOCKED_MARK}: tests may not reach {host}")

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback_host(_address_host(address)):
            raise refuse(_address_host(address))

    def connect(self, address):
        check(self, address)
        return originals["connect"](self, address)

    def connect_ex(self, address):
        check(self, address)
        return originals["connect_ex"](self, address)

    def sendto(self, data, *args):
        check(self, args[-1])  # sendto(data, address) or sendto(data, flags, address)
        return originals["sendto"](self, data, *args)

    def guarded_lookup(name: str) -> Callable[..., Any]:
        original = lookups[name]

        def lookup(host, *args, **kwargs):
            if not is_loopback_host(host):
                raise refuse(host)
            return original(host, *args, **kwargs)

        return lookup

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    for name in lookups:
        setattr(socket, name, guarded_lookup(name))

    def undo() -> None:
        for name, original in originals.items():
            setattr(socket.socket, name, original)
        for name, original in lookups.items():
            setattr(socket, name, original)

    return undo


class RecordingGuard:
    """`block_non_loopback` for a whole test session: the refused hosts are kept until
    `take()` hands them over (to fail the test they happened in)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._blocked: list[str] = []
        self._undo: Callable[[], None] | None = None

    def _record(self, host: str) -> None:
        with self._lock:
            self._blocked.append(host)

    def install(self) -> None:
        if self._undo is None:
            self._undo = block_non_loopback(self._record)

    def uninstall(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None

    def take(self) -> list[str]:
        """The hosts refused since the last take, once each, in order."""
        with self._lock:
            blocked, self._blocked = self._blocked, []
        return list(dict.fromkeys(blocked))


# Written as sitecustomize.py into a folder put first on a subprocess's PYTHONPATH (with
# the repository's root after it), so the whole subprocess runs under the guard.
SITECUSTOMIZE = f"""\
import sys
import tests.support.loopback_guard as loopback_guard
loopback_guard.block_non_loopback(
    lambda host: print("{BLOCKED_MARK}:", host, file=sys.stderr, flush=True))
"""
