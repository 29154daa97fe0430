"""The officer app answers its own user's connections only (tipdrop/officer/app/peers.py).

Real sockets on 127.0.0.1 and, for another user, a real process running as
``nobody``: Linux's own table of sockets says who opened each one.
"""

import os
import socket
import subprocess

import pytest

from tipdrop.officer.app.peers import PROC_NET_TCP, OwnUserOnly, socket_owner

#: A user other than the tests' own, and a Python it can run (not a venv under /root).
NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"

needs_another_user = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK)
    or not os.path.exists(PROC_NET_TCP),
    reason="acting as another user needs root, /usr/bin/python3 and Linux's /proc/net/tcp")

#: A client that connects to the port in argv[1] and holds the connection until stdin closes.
CLIENT = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def client_of_another_user(port):
    """A connection to ``port`` opened by a process of the user ``nobody``."""
    return subprocess.Popen([SYSTEM_PYTHON, "-I", "-c", CLIENT, str(port)], user=NOBODY,
                            group=NOBODY, extra_groups=[], cwd="/", stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


@pytest.mark.skipif(not os.path.exists(PROC_NET_TCP), reason="Linux's /proc/net/tcp")
def test_a_connection_of_this_user_is_answered(listener):
    address = listener.getsockname()
    with socket.create_connection(address) as client:
        accepted, peer = listener.accept()
        with accepted:
            assert peer == client.getsockname()
            assert socket_owner(peer, address) == os.geteuid()
            assert OwnUserOnly(address)(accepted, peer) is True


@needs_another_user
def test_a_connection_of_another_user_is_refused_and_said_once(listener, capsys):
    address = listener.getsockname()
    check = OwnUserOnly(address)
    other = client_of_another_user(address[1])
    try:
        port = int(other.stdout.readline())
        accepted, peer = listener.accept()
        with accepted:
            assert peer == ("127.0.0.1", port)
            assert socket_owner(peer, address) == NOBODY
            assert check(accepted, peer) is False
            assert check(accepted, peer) is False
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    said = capsys.readouterr().err.splitlines()
    assert said == [f"officer app: refused a connection from user {NOBODY}: only this "
                    "user's browser is answered"]


@pytest.mark.skipif(not os.path.exists(PROC_NET_TCP), reason="Linux's /proc/net/tcp")
def test_a_connection_no_longer_listed_is_refused(listener):
    address = listener.getsockname()
    assert OwnUserOnly(address)(None, ("127.0.0.1", 9)) is False


def test_without_a_socket_table_the_cookie_alone_decides(listener, tmp_path):
    assert OwnUserOnly(listener.getsockname(), table=str(tmp_path / "none"))(
        None, ("127.0.0.1", 9)) is True
