"""Small request bodies are read without a thread (tipdrop/server/readahead.py).

Against a real ``tipdrop serve`` (one worker, 8 threads): three times as many
connections as threads send the head of a JSON submit announcing a body of
about 200 KiB, then trickle that body a little faster than
TIPDROP_MIN_BODY_RATE, so no deadline ends them. Meanwhile an honest
reporter submits a report and checks its receipt, and both succeed, while
every trickle is still open. On the code before, each trickle held a thread
while its body arrived: the honest requests waited behind them and timed out.

Also: pipelined requests on a kept-alive connection after a body read
ahead, Expect: 100-continue, a body that stops short of its Content-Length
(408 at the deadline, nothing stored, nothing of it logged), a body
announced larger than SMALL_BODY (read by a thread, under an upload slot),
and the bound on the body bytes the loop holds (readahead.BUDGET).
"""

import json
import re
import socket
import sqlite3
import threading
import time
from contextlib import closing

import pytest
from babel.support import Translations

from tests import stored
from tests.readable import readable
from tests.serving import multipart, start_server
from tipdrop.server.web import i18n
from tipdrop.server.web.deadlines import SlowClientError
from tipdrop.server.web.limits import BusyError
from tipdrop.server.web.upload import SMALL_BODY

pytestmark = pytest.mark.e2e

THREADS = 8
TRICKLES = 3 * THREADS
MIN_RATE = 1024
#: What each trickle sends every TRICKLE_PAUSE: 4 KiB/s, four times the minimum rate.
TRICKLE_BYTES = 1024
TRICKLE_PAUSE = 0.25
#: Generous, on a loaded 2-core machine; on the code before, no answer came at all.
HONEST_TIMEOUT = 30
CANARY = b"CANARY-READ-AHEAD-5be1"
JSON = "application/json"


def _kazakh(error):
    """What the app answers ``error`` with, in Kazakh."""
    return Translations.load(str(i18n.TRANSLATIONS), ["kk"], domain="messages").gettext(
        i18n.summary(error))


#: What the app answers a body too slow to arrive (SlowClientError), in Kazakh.
KAZAKH_SLOW = _kazakh(SlowClientError)


def _env(**extra):
    return {"TIPDROP_MIN_BODY_RATE": str(MIN_RATE), "TIPDROP_RATE_WINDOW": "3",
            "TIPDROP_READ_TIMEOUT": "5", "TIPDROP_SUBMITS_PER_HOUR": "100000",
            "TIPDROP_CHECKS_PER_HOUR": "100000"} | extra


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, workers=1, extra_env=_env())
    yield running
    running.stop()


def _head(method, path, length, content_type=JSON, extra=""):
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def _submit_body(text):
    return json.dumps({"region": "almaty", "category": "theft", "description": text}).encode()


def _tips(data_dir):
    db = sqlite3.connect(f"file:{data_dir / 'tipdrop.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM tips").fetchone()[0]
    finally:
        db.close()


class _Responses:
    """HTTP/1.1 responses read one after another from one connection."""

    def __init__(self, sock):
        self.file = sock.makefile("rb")

    def next(self):
        """(status, headers, body) of the next response; an interim 1xx is one too."""
        line = self.file.readline()
        if not line:
            return None, {}, b""
        status = int(line.split()[1])
        headers = {}
        while (field := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = field.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.file.read(int(headers.get("content-length", 0)))
        return status, headers, body


def _request(server, method, path, body=None):
    """(status, parsed JSON or None) of one honest request, or a description of no answer."""
    try:
        status, _, raw = server.request(method, path, body, {"Content-Type": JSON},
                                        timeout=HONEST_TIMEOUT)
    except OSError as error:
        return f"no answer ({type(error).__name__})", None
    return status, json.loads(raw) if raw.startswith(b"{") else None


class Trickle(threading.Thread):
    """A JSON submit of about 200 KiB, sent above the minimum rate until told to stop."""

    def __init__(self, port, number):
        super().__init__(daemon=True)
        self.port, self.number = port, number
        self.stop = threading.Event()
        #: The first bytes of an answer, if the server answered before the stop.
        self.answer = None
        self.sent = 0

    def run(self):
        body = _submit_body("x" * (200 * 1024))
        with closing(socket.create_connection(("127.0.0.1", self.port), timeout=30)) as sock:
            sock.sendall(_head("POST", "/api/v1/tips", len(body)) + body[:TRICKLE_BYTES])
            self.sent = TRICKLE_BYTES
            while not self.stop.wait(TRICKLE_PAUSE):
                if readable([sock], 0):
                    self.answer = sock.recv(64) or b"closed"
                    return
                sock.sendall(body[self.sent:self.sent + TRICKLE_BYTES])
                self.sent += TRICKLE_BYTES
            assert self.sent < len(body), "the trickle ended before it was told to stop"


@pytest.mark.slow
def test_trickling_small_bodies_hold_no_thread_so_honest_reporters_are_served(server):
    # Given three times as many connections as the worker has threads, each
    # trickling the body of a JSON submit just above the minimum rate
    trickles = [Trickle(server.port, n) for n in range(TRICKLES)]
    for trickle in trickles:
        trickle.start()
    try:
        time.sleep(2)  # every trickle connected and sending
        assert [t.answer for t in trickles] == [None] * TRICKLES

        # When an honest reporter submits and checks the receipt meanwhile
        submitted, answer = _request(server, "POST", "/api/v1/tips",
                                     _submit_body("an honest report during the trickles"))
        checked, status = (_request(server, "POST", "/api/v1/check", json.dumps(
            {"receipt": answer["receipt"]}).encode()) if submitted == 201 else (None, None))
        health, _ = _request(server, "GET", "/healthz")

        # Then both succeed, and every trickle is still being read, not refused
        assert submitted == 201, answer
        assert checked == 200 and status["status"] == "received", status
        assert health == 200
        assert [t.answer for t in trickles] == [None] * TRICKLES
    finally:
        for trickle in trickles:
            trickle.stop.set()
        for trickle in trickles:
            trickle.join(timeout=30)


def test_pipelined_requests_after_a_body_read_ahead_are_each_answered(server):
    first = _submit_body("the first of three pipelined requests")
    third = _submit_body("the third of three pipelined requests")
    with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as sock:
        # Given a kept-alive connection on which the first body comes in two
        # pieces, and the next requests come right behind its last byte
        sock.sendall(_head("POST", "/api/v1/tips", len(first)) + first[:20])
        time.sleep(0.5)
        sock.sendall(first[20:] + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                     + _head("POST", "/api/v1/tips", len(third)) + third[:10])
        time.sleep(0.5)
        sock.sendall(third[10:])
        # Then each is answered, in order
        responses = _Responses(sock)
        answers = [responses.next() for _ in range(3)]
    assert [status for status, _, _ in answers] == [201, 200, 201], answers
    receipts = [json.loads(body)["receipt"] for status, _, body in answers if status == 201]
    assert len(set(receipts)) == 2
    for receipt in receipts:
        status, answer = _request(server, "POST", "/api/v1/check",
                                  json.dumps({"receipt": receipt}).encode())
        assert status == 200 and answer["status"] == "received", answer


def test_a_client_that_expects_100_continue_is_answered_it_once_before_its_body(server):
    body = _submit_body("sent after 100 Continue")
    with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as sock:
        # Given a submit whose client waits for 100 Continue before its body
        sock.sendall(_head("POST", "/api/v1/tips", len(body), extra="Expect: 100-continue\r\n"))
        responses = _Responses(sock)
        # Then the server asks for the body (long before any deadline: the
        # client's read would time out first)
        sock.settimeout(4)
        interim = responses.next()
        assert interim[0] == 100, interim
        sock.settimeout(30)
        # ... and when it is sent, the report is stored, with no second 100
        sock.sendall(body)
        status, _, answer = responses.next()
    assert status == 201, answer
    assert "receipt" in json.loads(answer)


def test_a_body_that_stops_short_ends_at_its_deadline_with_nothing_kept(server):
    body = _submit_body("a report cut short " + CANARY.decode() + " " + "y" * 2000)
    with closing(socket.create_connection(("127.0.0.1", server.port), timeout=60)) as sock:
        # Given a submit that sends half of its announced body and then nothing
        sock.sendall(_head("POST", "/api/v1/tips?lang=kk", len(body)) + body[:len(body) // 2])
        # Then at the deadline it gets the app's 408, in the reporter's language,
        # and its connection is closed
        responses = _Responses(sock)
        status, headers, answer = responses.next()
        assert sock.recv(1) == b""
    assert status == 408, answer
    assert json.loads(answer)["error"] == "SlowClientError"
    assert json.loads(answer)["message"] == KAZAKH_SLOW
    # ... and nothing of it was stored or logged, nor who sent it
    assert not stored.all_blobs(server.data_dir)
    assert _tips(server.data_dir) == 0
    server.stop()
    for root in (server.data_dir, server.tmp_dir):
        for path in root.rglob("*"):
            if path.is_file():
                assert CANARY not in path.read_bytes(), f"canary found in {path}"
    log = server.log_path.read_bytes()
    assert b"Request refused with 408" in log
    assert CANARY not in log and b"127.0.0.1" not in log and b"Traceback" not in log, log[-2000:]


def test_a_check_form_cut_short_is_redirected_so_the_browser_keeps_no_receipt(server):
    """A reporter POST's refusal is a 303 (tipdrop/server/web/refusals.py), from the loop too."""
    body = b"token=x&receipt=" + CANARY + b"&" + b"z" * 500
    with closing(socket.create_connection(("127.0.0.1", server.port), timeout=60)) as sock:
        sock.sendall(_head("POST", "/check?lang=ru", len(body),
                           "application/x-www-form-urlencoded") + body[:40])
        status, headers, _ = _Responses(sock).next()
    assert status == 303, headers
    assert "error=slow-client" in headers["location"] and CANARY.decode() not in headers["location"]


def test_a_body_announced_larger_than_small_body_streams_in_a_thread_under_a_slot(tmp_path):
    # No waiting in line for the slot: the second upload is refused at once
    # (one that waits: tests/e2e/test_young_body_cyclers.py).
    server = start_server(tmp_path, workers=1, extra_env=_env(TIPDROP_UPLOAD_SLOTS="1",
                                                              TIPDROP_UPLOAD_WAIT="0"))
    content_type, body = multipart(
        {"region": "astana", "category": "theft", "description": "a large upload"},
        [("files", "clip.mp4", "video/mp4", (CANARY + b"\0" * 1000) * (SMALL_BODY // 1000))])
    assert len(body) > SMALL_BODY
    try:
        with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as sock:
            # Given an upload announced larger than SMALL_BODY, trickling in
            sock.sendall(_head("POST", "/api/v1/tips", len(body), content_type) + body[:4096])
            sent = 4096
            deadline = time.monotonic() + 30
            # Then a thread reads it into a staged blob, under the one upload slot
            while not stored.staged_blobs(server.data_dir) and time.monotonic() < deadline:
                sock.sendall(body[sent:sent + TRICKLE_BYTES])
                sent += TRICKLE_BYTES
                time.sleep(TRICKLE_PAUSE)
            assert stored.staged_blobs(server.data_dir)
            # ... so a second large upload is refused, busy
            with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as other:
                other.sendall(_head("POST", "/api/v1/tips", len(body), content_type))
                status, headers, _ = _Responses(other).next()
            assert status == 503 and headers["retry-after"] == "30"
            # ... and when its body is all sent, it is stored
            sock.sendall(body[sent:])
            status, _, answer = _Responses(sock).next()
        assert status == 201, answer
    finally:
        server.stop()


def test_bodies_read_ahead_are_bounded_in_memory_and_past_the_bound_refused_busy(tmp_path):
    server = start_server(tmp_path, workers=1, extra_env=_env(TIPDROP_READ_TIMEOUT="60",
                                                              TIPDROP_RATE_WINDOW="60",
                                                              TIPDROP_MIN_BODY_RATE="1"))
    from tipdrop.server import readahead

    held = readahead.BUDGET // SMALL_BODY
    socks = []
    try:
        # Given as many heads of the largest small body as the budget holds,
        # each waiting for its body
        for _ in range(held):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sock.sendall(_head("POST", "/api/v1/tips", SMALL_BODY))
            socks.append(sock)
        status, _ = _request(server, "GET", "/healthz")
        assert status == 200
        assert readable(socks, 0) == []
        # When one more comes, then it is refused at once, busy, with Retry-After
        with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as sock:
            sock.sendall(_head("POST", "/api/v1/tips", SMALL_BODY))
            status, headers, answer = _Responses(sock).next()
        assert status == 503 and headers["retry-after"] == "30", answer
        assert json.loads(answer)["error"] == "BusyError"
        # ... while a submit whose body comes with its head needs none of it
        status, answer = _request(server, "POST", "/api/v1/tips", _submit_body("fits"))
        assert status == 201, answer
        # ... even one far longer than the loop reads with a head (readahead.HEAD_READ):
        # 5,000 Cyrillic letters, 30 KB of JSON, sent in one piece with the head
        # (refused 503 on the code before)
        long_body = _submit_body("ж" * 5000)
        assert readahead.HEAD_READ < len(long_body) < 60_000
        status, answer = _request(server, "POST", "/api/v1/tips", long_body)
        assert status == 201, answer
        # ... and a body that waited gets its place back when one of them ends
        socks.pop().close()
        time.sleep(1)
        with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as sock:
            body = _submit_body("z" * 1000)
            sock.sendall(_head("POST", "/api/v1/tips", len(body)))
            time.sleep(0.5)
            sock.sendall(body)
            status, _, answer = _Responses(sock).next()
        assert status == 201, answer
    finally:
        for sock in socks:
            sock.close()
        server.stop()
    log = server.log_path.read_bytes()
    assert re.search(rb"Request refused with 503: bodies read ahead hold \d+ bytes", log)


def test_the_operators_read_ahead_budget_takes_effect_in_the_worker(tmp_path):
    """TIPDROP_READ_AHEAD_MB=1: four waiting bodies of 256 KiB fill it, the fifth is refused.

    With the default 32 MiB (the code before: a constant) the fifth is read
    like the others (the test above holds 128 before it refuses one).
    """
    server = start_server(tmp_path, workers=1, extra_env=_env(
        TIPDROP_READ_AHEAD_MB="1", TIPDROP_READ_TIMEOUT="60", TIPDROP_RATE_WINDOW="60",
        TIPDROP_MIN_BODY_RATE="1"))
    fits = 1024 * 1024 // SMALL_BODY
    socks = []
    try:
        # Given as many slow small bodies as one mebibyte holds, each sending a little
        for _ in range(fits):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sock.sendall(_head("POST", "/api/v1/tips", SMALL_BODY) + b"{")
            socks.append(sock)
        status, _ = _request(server, "GET", "/healthz")
        assert status == 200
        assert readable(socks, 0) == [], "a body within the budget was answered"
        # When one more comes, then it is refused at once, busy, in the reporter's language
        with closing(socket.create_connection(("127.0.0.1", server.port), timeout=30)) as sock:
            sock.sendall(_head("POST", "/api/v1/tips?lang=kk", SMALL_BODY) + b"{")
            status, headers, answer = _Responses(sock).next()
        assert status == 503 and headers["retry-after"] == "30", answer
        assert json.loads(answer)["error"] == "BusyError"
        assert json.loads(answer)["message"] == _kazakh(BusyError)
    finally:
        for sock in socks:
            sock.close()
        server.stop()
    log = server.log_path.read_bytes()
    assert b"Request refused with 503: bodies read ahead hold 1048572 bytes" in log, log[-2000:]


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["doctor"]])
@pytest.mark.parametrize("value, says", [("0", "out of range: 0 (at least 1)"),
                                         ("32MB", "'32MB' is not a whole number")])
def test_a_bad_read_ahead_budget_stops_the_command_with_one_line(run_cli, tmp_path, command,
                                                                  value, says):
    from tests.e2e.conftest import assert_clean_error

    result = run_cli(*command, "--data-dir", tmp_path / "instance",
                     env={"TIPDROP_READ_AHEAD_MB": value})
    assert_clean_error(result, "TIPDROP_READ_AHEAD_MB", says)
    assert not (tmp_path / "instance").exists()
