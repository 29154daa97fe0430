"""Bodies the worker's loop does not read ahead hold no thread while their client waits.

tipdrop/server/readahead.py reads a body ahead of the thread only if it has
a Content-Length of at most 256 KiB. Any other body (chunked, or announced
larger) is read, or drained, by the request's thread as it arrives. Against
a real ``tipdrop serve`` (one worker, 8 threads, 4 upload slots):

* Clients trickling *chunked* small bodies (a JSON submit, a check) just
  above TIPDROP_MIN_BODY_RATE held a thread each for as long as their
  256 KiB lasted: 24 of them and the worker answered nothing, not even
  ``/healthz``. Such a body is now read under an upload slot, as
  docs/deploy.md says a chunked body is (tipdrop/server/web/body.py).
* A request answered without its body being read (a page, ``/healthz``,
  asked for with a chunked or large body) left gunicorn to drain that body
  in the thread for up to 5 s to keep the connection alive; clients that
  sent such a head and then nothing, one after another, kept every thread
  waiting (an honest ``/healthz`` took 10-15 s with 24 of them). Now the
  connection is closed after the answer instead (deadlines.init_app),
  unless the body is already in memory.
"""

import json
import socket
import threading
import time
from contextlib import closing

import pytest
from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT

from tests.readable import readable
from tests.serving import start_server

pytestmark = pytest.mark.e2e

THREADS = 8
TRICKLES = 3 * THREADS
#: What each trickle sends every TRICKLE_PAUSE: 4 KiB/s, four times the minimum rate.
TRICKLE_BYTES = 1024
TRICKLE_PAUSE = 0.25
#: Generous, on a loaded 2-core machine; on the code before, no answer came at all.
HONEST_TIMEOUT = 30
JSON = "application/json"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("bodies"), workers=1, extra_env={
        "TIPDROP_MIN_BODY_RATE": "1024", "TIPDROP_RATE_WINDOW": "3",
        "TIPDROP_READ_TIMEOUT": "5", "TIPDROP_SUBMITS_PER_HOUR": "100000",
        "TIPDROP_CHECKS_PER_HOUR": "100000",
        # Trickles beyond the upload slots are refused at once, not kept
        # waiting in line (tests/e2e/test_young_body_cyclers.py waits).
        "TIPDROP_UPLOAD_WAIT": "0"})
    yield running
    running.stop()


def _submit_body(text):
    return json.dumps({"region": "almaty", "category": "theft", "description": text}).encode()


def _chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _request(server, method, path, body=None):
    """(status, parsed JSON or None) of one honest request, or a description of no answer."""
    try:
        status, _, raw = server.request(method, path, body, {"Content-Type": JSON},
                                        timeout=HONEST_TIMEOUT)
    except OSError as error:
        return f"no answer ({type(error).__name__})", None
    return status, json.loads(raw) if raw.startswith(b"{") else None


class ChunkedTrickle(threading.Thread):
    """A chunked JSON submit of about 200 KiB, one 1 KiB chunk at a time, until told to stop."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        #: The first bytes of an answer, if the server answered before the stop.
        self.answer = None

    def run(self):
        body = _submit_body("x" * (200 * 1024))
        head = (b"POST /api/v1/tips HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        with closing(socket.create_connection(("127.0.0.1", self.port), timeout=30)) as sock:
            sock.sendall(head)
            while not self.stop.wait(TRICKLE_PAUSE) and sent < len(body):
                if readable([sock], 0):
                    self.answer = sock.recv(64) or b"closed"
                    return
                try:
                    sock.sendall(_chunk(body[sent:sent + TRICKLE_BYTES]))
                except OSError:
                    self.answer = b"closed"
                    return
                sent += TRICKLE_BYTES


@pytest.mark.slow
def test_trickling_chunked_small_bodies_leave_threads_for_honest_reporters(server):
    # Given three times as many connections as the worker has threads, each
    # trickling a chunked JSON submit just above the minimum rate
    trickles = [ChunkedTrickle(server.port) for _ in range(TRICKLES)]
    for trickle in trickles:
        trickle.start()
    try:
        time.sleep(2)  # every trickle connected and sending

        # When an honest reporter submits, checks the receipt and asks for /healthz meanwhile
        submitted, answer = _request(server, "POST", "/api/v1/tips",
                                     _submit_body("an honest report during chunked trickles"))
        checked, status = (_request(server, "POST", "/api/v1/check", json.dumps(
            {"receipt": answer["receipt"]}).encode()) if submitted == 201 else (None, None))
        health, _ = _request(server, "GET", "/healthz")

        # Then every one is answered
        assert submitted == 201, answer
        assert checked == 200 and status["status"] == "received", status
        assert health == 200
        # ... and the trickles beyond the upload slots were refused busy at once
        refused = [t.answer for t in trickles if t.answer is not None]
        assert len(refused) >= TRICKLES - 4, refused
        assert all(answer.startswith(b"HTTP/1.1 503 ") for answer in refused), refused
    finally:
        for trickle in trickles:
            trickle.stop.set()
        for trickle in trickles:
            trickle.join(timeout=30)


def _answer_then_close(port, request):
    """(status line, whether the server closed the connection) after sending ``request`` only.

    The client sends nothing more and waits for the close for less than
    gunicorn's drain of an unread body (DEFAULT_WORKER_DATA_TIMEOUT).
    """
    with closing(socket.create_connection(("127.0.0.1", port), timeout=HONEST_TIMEOUT)) as sock:
        sock.sendall(request)
        reader = sock.makefile("rb")
        status = reader.readline()
        while reader.readline() not in (b"\r\n", b""):
            pass
        sock.settimeout(DEFAULT_WORKER_DATA_TIMEOUT - 2)
        try:
            while reader.read1(65536):
                pass
        except TimeoutError:
            return status, False
        return status, True


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nhello",
    b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
], ids=["page-chunked", "healthz-large", "head-chunked"])
def test_an_answer_that_leaves_a_body_unread_holds_no_thread_waiting_for_it(server,
                                                                             request_bytes):
    # Given a request answered without its body being read, whose client
    # sends the start of that body and then nothing
    status, closed = _answer_then_close(server.port, request_bytes)
    # Then it is answered, and its connection closed at once: no thread waits
    # for the rest of the body to keep the connection alive
    assert status.startswith(b"HTTP/1.1 200 "), status
    assert closed


def test_a_small_body_read_ahead_and_left_unread_keeps_its_connection_alive(server):
    with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as sock:
        # Given a kept-alive connection whose first request has a small body the app does not read
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        reader = sock.makefile("rb")
        answers = []
        for _ in range(2):
            answers.append(reader.readline())
            length = 0
            while (field := reader.readline()) not in (b"\r\n", b""):
                if field.lower().startswith(b"content-length:"):
                    length = int(field.split(b":")[1])
            reader.read(length)
            if len(answers) == 1:
                # When a second request follows on the same connection
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    # Then both are answered
    assert [line[:13] for line in answers] == [b"HTTP/1.1 200 "] * 2, answers
