"""Answers a client does not take hold no thread (tipdrop/server/readahead.py, "Answers").

A thread writes its answer with a blocking send, which returns only once
the kernel has room for it, and the kernel's send buffer empties only as
fast as the client reads. Against a real ``tipdrop serve`` (one worker, 8
threads): clients that pipeline hundreds of requests for the submit page on
one connection each, with the smallest receive window, and read nothing,
held every thread in ``send`` for good on the code before (after some ten
seconds no one was answered, not even ``/healthz``). Now a kept-alive
connection's next request waits, without a thread, until its client has
taken the answers sent before, and is closed if it has not within
TIPDROP_READ_TIMEOUT.
"""

import socket
import time
from contextlib import closing

import pytest

from tests.serving import start_server

pytestmark = pytest.mark.e2e

THREADS = 8
ATTACKERS = 3 * THREADS
#: Requests each attacker pipelines: about 12 MB of answers, more than a socket's send buffer.
PIPELINED = 300
#: How long honest requests are made while the attack goes on: on the code
#: before, every thread was stuck in send after some ten seconds.
WATCH_SECONDS = 20
HONEST_TIMEOUT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("answers"), workers=1,
                           extra_env={"TIPDROP_READ_TIMEOUT": "5"})
    yield running
    running.stop()


def _pipelining(port, path, count):
    """A connection with the smallest receive window that has sent ``count`` requests for ``path``."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    sock.settimeout(HONEST_TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * count)
    return sock


def _health(server):
    try:
        status, _, _ = server.request("GET", "/healthz", None, {}, timeout=HONEST_TIMEOUT)
    except OSError as error:
        return f"no answer ({type(error).__name__})"
    return status


@pytest.mark.slow
def test_clients_that_pipeline_requests_and_take_no_answer_hold_no_thread(server):
    # Given three times as many connections as the worker has threads, each
    # asking for the submit page hundreds of times and reading none of it
    attackers = [_pipelining(server.port, "/submit", PIPELINED) for _ in range(ATTACKERS)]
    try:
        # When /healthz is asked for, again and again, while they go on
        answers, until = [], time.monotonic() + WATCH_SECONDS
        while time.monotonic() < until:
            answers.append(_health(server))
            time.sleep(1)
        # Then every one is answered
        assert set(answers) == {200}, answers
    finally:
        for sock in attackers:
            sock.close()


def test_a_client_that_pipelines_and_reads_late_gets_every_answer_in_order(server):
    count = 200
    with closing(_pipelining(server.port, "/healthz?n=1", count)) as sock:
        # Given a client that pipelines many requests and reads nothing for a
        # while (less than the read timeout), so that its window fills
        time.sleep(2)
        # When it reads then
        reader = sock.makefile("rb")
        statuses = []
        for _ in range(count):
            statuses.append(reader.readline())
            length = 0
            while (field := reader.readline()) not in (b"\r\n", b""):
                if field.lower().startswith(b"content-length:"):
                    length = int(field.split(b":")[1])
            reader.read(length)
    # Then it gets every answer
    assert [line[:13] for line in statuses] == [b"HTTP/1.1 200 "] * count


def test_a_client_that_never_takes_its_answers_is_closed_after_the_read_timeout(server):
    with closing(_pipelining(server.port, "/submit", PIPELINED)) as sock:
        # Given a client that pipelines and reads nothing past the read timeout (5 s)
        time.sleep(8)
        # Then the server has closed its connection: what it sent, then the end
        # (a reset, as the requests it did not read were still there)
        sock.settimeout(HONEST_TIMEOUT)
        received, piece = 0, b"x"
        try:
            while piece:
                piece = sock.recv(1 << 20)
                received += len(piece)
        except ConnectionResetError:
            pass
    assert received < PIPELINED * 40_000
