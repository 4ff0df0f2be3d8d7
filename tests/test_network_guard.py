"""The suite's network guard (tests/conftest.py, tests/support/loopback_guard.py) can fail: a
connection or a name lookup for another machine is refused before anything is sent, and the
test it happened in fails naming the host, even where the caller swallowed the error.

192.0.2.1 is TEST-NET-1 (RFC 5737): an address that no network routes.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import NETWORK_GUARD
from tests.support.loopback_guard import BLOCKED_MARK, is_loopback_host
from tests.support.processes import REPO_ROOT, core_env

TEST_NET = "192.0.2.1"


@pytest.mark.parametrize("reach", [
    lambda: socket.create_connection((TEST_NET, 80), timeout=1),       # a lookup, then a connect
    lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect((TEST_NET, 80)),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect_ex((TEST_NET, 80)),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (TEST_NET, 53)),
    lambda: socket.getaddrinfo("example.com", 443),                    # no DNS query leaves
    lambda: socket.gethostbyname("example.com"),
], ids=["create_connection", "connect", "connect_ex", "sendto", "getaddrinfo", "gethostbyname"])
def test_another_machine_is_refused_before_anything_is_sent(reach):
    with pytest.raises(ConnectionRefusedError, match=BLOCKED_MARK):
        reach()
    refused = NETWORK_GUARD.take()  # taken, so that this test (which meant it) passes
    assert refused and refused[0] in (TEST_NET, "example.com")


def test_this_machine_is_allowed():
    assert all(map(is_loopback_host, ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", None]))
    assert not any(map(is_loopback_host, [TEST_NET, "10.0.0.1", "::ffff:192.0.2.1", "example.com"]))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    assert NETWORK_GUARD.take() == []


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")
def test_unix_sockets_are_allowed(tmp_path):
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
    assert NETWORK_GUARD.take() == []


@pytest.mark.timeout(120)
def test_a_test_that_reaches_out_fails_naming_the_host(tmp_path):
    """A test that swallows the refusal, as telemetry threads do, still fails: run under this
    suite's conftest (as a plugin) in a pytest of its own."""
    (tmp_path / "test_reaches_out.py").write_text(textwrap.dedent(f"""\
        import socket
        import threading

        def test_quietly_reaches_out():
            def phone_home():
                try:
                    socket.create_connection(("{TEST_NET}", 80), timeout=1)
                except OSError:
                    pass
            thread = threading.Thread(target=phone_home)
            thread.start()
            thread.join()

        def test_stays_home():
            pass
        """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                           "-q", "-o", "addopts=", str(tmp_path / "test_reaches_out.py")],
                          cwd=REPO_ROOT, env=core_env(), capture_output=True, text=True, timeout=110)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert f"tried to reach {TEST_NET} during call" in out, out
