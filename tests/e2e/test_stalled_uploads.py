"""Stalled and trickling uploads cannot stop the service (issue 13, item 1).

A real ``tipdrop serve`` (gunicorn gthread) gets dozens of uploads that send
their headers and the head of a multipart body (a file carrying a canary),
then either nothing at all or one byte every half second, and never close
their end. Meanwhile an honest reporter checks a receipt, follows up, loads
pages, submits, and a monitor polls ``/healthz``. Then:

* every honest request is answered (a submit may be told "busy" with 503
  while the upload slots are taken: that is the documented refusal, quick,
  and the reporter's next try after the attack succeeds);
* every stalled or trickling upload is ended by the server (a 408 or 503
  answer, or its connection closed), none gets a receipt;
* nothing of them is left: no tip, no staged attachment blob, no attachment, the
  canary in no file of the data folder or the temp folder.

On the code before the read deadline and the reserved threads, the honest
requests time out: every thread was blocked reading a stalled body.
The same runs behind the shipped nginx configuration, where nginx's own
per-read timeout does not end a trickle and tipdrop's minimum rate must.

Short deadlines keep the test quick: a 2 s read timeout, a 1 KiB/s minimum
rate over 3 s. The assertions are about what happens, not how fast; the
client timeouts are generous.
"""

import http.client
import json
import re
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import stored
from tests.e2e import test_nginx
from tests.readable import readable
from tests.serving import free_port, multipart, start_server

pytestmark = pytest.mark.e2e

#: As in test_nginx: installs nginx where it is missing and we are root (CI).
nginx_installed = test_nginx.nginx_installed

STALLED = 20
TRICKLING = 20
#: More than the threads of both workers (2 x 8), each sending part of a head.
PARTIAL_HEADS = 32
CANARY = b"CANARY-STALLED-UPLOAD-41c9"
#: Sent at once by half the attackers: enough for the server to start the
#: attachment's staged blob. The other half send the file's first bytes only.
LARGE_HEAD = 128 * 1024
SMALL_HEAD = 100
TRICKLE_PAUSE = 0.5
DEADLINES = {"TIPDROP_READ_TIMEOUT": "2", "TIPDROP_MIN_BODY_RATE": "1024",
             "TIPDROP_RATE_WINDOW": "3"}
#: Generous: on a loaded 2-core machine; a thread blocked on a stalled body never answers.
HONEST_TIMEOUT = 30
#: How long the server may take to end every stalled upload (deadlines plus a margin).
ENDED_WITHIN = 45
JSON = {"Content-Type": "application/json"}


def _env(extra=None):
    return DEADLINES | {"TIPDROP_SUBMITS_PER_HOUR": "100000",
                        "TIPDROP_CHECKS_PER_HOUR": "100000",
                        "TIPDROP_FOLLOWUPS_PER_HOUR": "100000",
                        "TIPDROP_FOLLOWUPS_PER_DAY": "100000"} | (extra or {})


class Attacker:
    """Uploads that stall (``trickle=False``) or send a byte every TRICKLE_PAUSE.

    Each upload is kept open until the server ends it; then the attacker
    starts the next one, until told to stop (the last one it leaves open).
    ``head`` is how much of the file is sent at once: a large head makes the
    server start an encrypted staged blob, a small one stalls before it,
    None sends only the start of the request head.
    With ``wait_for_close`` the attacker does not hang up when answered: it
    waits for the server to close the connection.
    """

    def __init__(self, port, number, trickle, head, wait_for_close):
        self.port, self.number, self.trickle = port, number, trickle
        self.head, self.wait_for_close = head, wait_for_close
        #: The first bytes of the server's answer to each upload (b"" if closed).
        self.answers = []
        #: Whether the last upload was still open at ``give_up_at``.
        self.lingering = False

    def run(self, stop, give_up_at):
        while not self.lingering:
            self.answers.append(self._one_upload(give_up_at))
            if stop.is_set():
                return

    def _one_upload(self, give_up_at):
        file_bytes = (CANARY + b"\x00" * 990) * 1024  # ~1 MiB announced, never all sent
        content_type, body = multipart(
            {"region": "astana", "category": "theft", "description": f"stall {self.number}"},
            [("files", "slow.mp4", "video/mp4", file_bytes)])
        head = (f"POST /api/v1/tips HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        if self.head is None:  # not even the whole request head
            first, rest = head[:40], head[40:] + body
        else:
            head_end = body.index(CANARY) + self.head
            first, rest = head + body[:head_end], body[head_end:]
        answer, offset = None, 0
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        try:
            sock.sendall(first)
            while time.monotonic() < give_up_at:
                if readable([sock], TRICKLE_PAUSE):
                    data = sock.recv(4096)
                    answer = data[:12] if answer is None else answer
                    if not data or not self.wait_for_close:
                        return answer
                elif self.trickle and answer is None:
                    sock.sendall(rest[offset:offset + 1])
                    offset += 1
            self.lingering = True
            return answer
        except OSError:
            return answer or b""  # reset or closed by the server: ended too
        finally:
            sock.close()


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HONEST_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError as error:
        return f"no answer ({type(error).__name__})", b""
    finally:
        conn.close()


def _submit_json(port, text):
    doc = {"region": "almaty", "category": "theft", "description": text}
    return _request(port, "POST", "/api/v1/tips", json.dumps(doc).encode(), JSON)


def _honest_round(port, receipt):
    """One visit of an honest reporter; returns the statuses it saw, by step."""
    seen = {}
    seen["healthz"], _ = _request(port, "GET", "/healthz")
    seen["check page"], _ = _request(port, "GET", "/check")
    status, answer = _request(port, "POST", "/api/v1/check",
                              json.dumps({"receipt": receipt}).encode(), JSON)
    seen["check"] = status
    if status == 200:
        token = json.loads(answer)["followup_token"]
        seen["follow-up"], _ = _request(port, "POST", "/api/v1/followups", json.dumps(
            {"token": token, "text": "I saw the car again this morning."}).encode(), JSON)
    seen["submit"], _ = _submit_json(port, "an honest report during the attack")
    return seen


def _part_files(data_dir):
    """Attachment blobs of uploads still in progress (staged, not stored with a tip)."""
    return stored.staged_blobs(data_dir)


def _tips(data_dir):
    db = sqlite3.connect(f"file:{data_dir / 'tipdrop.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM tips").fetchone()[0]
    finally:
        db.close()


def _attack_while_reporting(port, server, seconds=10, wait_for_close=True, partial_heads=0):
    """Run the attackers and honest rounds together; return (attackers, honest rounds)."""
    # Given a report made before the attack
    status, answer = _submit_json(port, "the report made before")
    assert status == 201, answer[:300]
    receipt = json.loads(answer)["receipt"]
    tips_before = _tips(server.data_dir)

    # When dozens of uploads stall or trickle, and never close their end
    # (the server ends one, the attacker starts another)
    attackers = [Attacker(port, n, trickle=n % 2 == 1,
                          head=LARGE_HEAD if n % 4 < 2 else SMALL_HEAD,
                          wait_for_close=wait_for_close)
                 for n in range(STALLED + TRICKLING)]
    attackers += [Attacker(port, len(attackers) + n, trickle=n % 2 == 1, head=None,
                           wait_for_close=wait_for_close) for n in range(partial_heads)]
    stop = threading.Event()
    with ThreadPoolExecutor(len(attackers)) as pool:
        give_up_at = time.monotonic() + seconds + ENDED_WITHIN
        running = [pool.submit(a.run, stop, give_up_at) for a in attackers]
        try:
            deadline = time.monotonic() + 15
            while not _part_files(server.data_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _part_files(server.data_dir), "no stalled upload reached the server"
            # ... while an honest reporter comes back again and again
            honest, attack_ends = [], time.monotonic() + seconds
            while time.monotonic() < attack_ends or len(honest) < 3:
                honest.append(_honest_round(port, receipt))
        finally:
            stop.set()
            for future in running:
                future.result(timeout=seconds + ENDED_WITHIN + 30)
    return attackers, honest, tips_before


def _assert_outcome(server, port, attackers, honest, tips_before):
    # Then every honest request was answered: pages, checks and follow-ups
    # normally, a submit at worst with a quick "busy" refusal
    for seen in honest:
        assert seen["healthz"] == 200, honest
        assert seen["check page"] == 203, honest
        assert seen["check"] == 200, honest
        assert seen["follow-up"] == 201, honest
        assert seen["submit"] in (201, 503), honest
    honest_submits = sum(seen["submit"] == 201 for seen in honest)

    # And the server ended every stalled and trickling upload, none got a receipt
    lingering = [a.number for a in attackers if a.lingering]
    assert not lingering, f"uploads {lingering} were still open after {ENDED_WITHIN} s"
    ends = {}
    for a in attackers:
        for answer in a.answers:
            kind = "head" if a.head is None else "trickling" if a.trickle else "stalled"
            key = (kind, (answer or b"")[:12].decode())
            ends[key] = ends.get(key, 0) + 1
    print("how the uploads ended:", ends, "honest rounds:", len(honest))  # shown on failure
    assert not any(status.endswith("201") for _, status in ends), ends
    # ... by the read deadline (stalled) and by the minimum rate (trickling),
    # each with the 408 page, not only by refusals of uploads beyond the slots
    assert ends.get(("stalled", "HTTP/1.1 408")), ends
    assert ends.get(("trickling", "HTTP/1.1 408")), ends
    # ... and a request head that never completes by closing its connection
    assert all(status == "" for kind, status in ends if kind == "head"), ends

    # And after the attack the reporter submits normally, with a file
    content_type, body = multipart(
        {"region": "almaty", "category": "theft", "description": "after the attack"},
        [("files", "photo.txt", "text/plain", b"x" * 20_000)])
    status, answer = _request(port, "POST", "/api/v1/tips", body, {"Content-Type": content_type})
    assert status == 201, answer[:300]

    # And nothing of the stalled uploads is left: no tip, no staged blob, only
    # the honest report's file
    assert _part_files(server.data_dir) == []
    assert _tips(server.data_dir) == tips_before + honest_submits + 1
    assert len(stored.all_blobs(server.data_dir)) == 1
    server.stop()
    for root in (server.data_dir, server.tmp_dir):
        for path in root.rglob("*"):
            if path.is_file():
                assert CANARY not in path.read_bytes(), f"canary found in {path}"
    log = server.log_path.read_bytes()
    assert b"Traceback" not in log and CANARY not in log, log[-3000:]


@pytest.fixture
def deadline_server(tmp_path):
    running = start_server(tmp_path, workers=2, extra_env=_env())
    yield running
    running.stop()


@pytest.mark.slow
def test_stalled_and_trickling_uploads_end_and_honest_reporters_are_served(deadline_server):
    server = deadline_server
    # Without nginx some also send only the start of their request head, more of
    # them than there are threads (tipdrop/server/worker.py reads heads without a thread).
    attackers, honest, tips_before = _attack_while_reporting(server.port, server,
                                                             partial_heads=PARTIAL_HEADS)
    _assert_outcome(server, server.port, attackers, honest, tips_before)


@pytest.fixture
def behind_nginx(tmp_path):
    """tipdrop serve behind the shipped nginx config, with short deadlines on both."""
    server = start_server(tmp_path, workers=2, extra_env=_env({"TIPDROP_PROXIES": "1"}))
    onion_port = free_port()
    # nginx keeps the shipped client_body_timeout (60 s): what ends the uploads
    # here is tipdrop's read deadline and minimum rate.
    conf = test_nginx.render(tmp_path / "nginx", server.port, free_port(), onion_port)
    # The test's nginx.conf allows 64 connections; each attacker takes two.
    conf.write_text(re.sub(r"worker_connections \d+;", "worker_connections 1024;",
                           conf.read_text()))
    process = test_nginx.start_nginx(conf, onion_port, server)
    yield server, onion_port, conf.parent
    process.terminate()
    process.wait(timeout=15)
    server.stop()


@pytest.mark.slow
@test_nginx.needs_nginx
def test_behind_nginx_trickling_uploads_end_and_honest_reporters_are_served(behind_nginx):
    server, onion_port, prefix = behind_nginx
    # nginx answers an attacker, then reads and discards what it still sends for
    # up to lingering_time (30 s): that costs nginx little and tipdrop nothing,
    # so here an answer is the end.
    attackers, honest, tips_before = _attack_while_reporting(onion_port, server,
                                                             wait_for_close=False)
    _assert_outcome(server, onion_port, attackers, honest, tips_before)
    for path in prefix.rglob("*"):
        if path.is_file():
            assert CANARY not in path.read_bytes(), f"canary found in {path}"
    # nginx logged every cut and stalled upload without naming its client
    # (docs/reverse-proxy.md, "Logs"; test_nginx.py has the control case)
    assert b"client:" not in (prefix / "error.log").read_bytes()


def test_a_request_head_longer_than_any_of_ours_is_refused(deadline_server):
    """Heads are read ahead without a thread, up to a bound: beyond it, 431 and closed."""
    from tipdrop.server.worker import MAX_HEAD

    sock = socket.create_connection(("127.0.0.1", deadline_server.port), timeout=30)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for n in range(MAX_HEAD // 1000 + 2):
                sock.sendall(f"X-Padding-{n}: ".encode() + b"a" * 1000 + b"\r\n")
        except OSError:
            pass  # closed by the server while sending: fine
        answer = sock.recv(200)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 431"), answer
    status, _ = _request(deadline_server.port, "GET", "/healthz")
    assert status == 200


def test_half_sent_request_heads_hold_up_no_one_while_they_wait(tmp_path):
    """Heads are read without a thread, so no one waits for their deadline.

    The deadline is long here (60 s): requests answered while 48 heads are
    still pending were not answered by threads freed when heads timed out.
    """
    server = start_server(tmp_path, workers=2, extra_env=_env({"TIPDROP_READ_TIMEOUT": "60"}))
    half_heads = []
    try:
        # Given more half-sent request heads than both workers have threads
        for _ in range(48):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sock.sendall(b"POST /api/v1/check HTTP/1.1\r\nHost: x\r\nContent-")
            half_heads.append(sock)
        time.sleep(1)
        # When a reporter comes meanwhile, then every request is answered
        status, answer = _submit_json(server.port, "while heads wait")
        assert status == 201, answer[:300]
        receipt = json.loads(answer)["receipt"]
        seen = _honest_round(server.port, receipt)
        assert seen == {"healthz": 200, "check page": 203, "check": 200, "follow-up": 201,
                        "submit": 201}, seen
        # ... while the heads are still waiting, neither answered nor closed
        assert readable(half_heads, 0) == []
    finally:
        for sock in half_heads:
            sock.close()
        server.stop()
