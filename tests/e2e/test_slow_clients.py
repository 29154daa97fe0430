"""Slow clients (issue #9): uploads trickling in do not hold up other reporters,
and an upload abandoned mid-body leaves nothing behind.

A real ``tipdrop serve`` (gunicorn gthread) receives several multipart uploads
over raw sockets: the head of the body (fields, file headers, the first
128 KiB of a file carrying a canary) arrives at once, then the rest a few
bytes at a time, then nothing. While they are in flight other reporters
submit (JSON and multipart with a file) and check their receipts in normal
time. Then the slow clients give up (one closes its socket, one resets it,
one half-closes its sending side); within a bounded time the server has
discarded their drafts: no tip row, no staged blob, no plaintext anywhere.

Why the test closes the sockets itself: the server ends a body only after
its read deadline (TIPDROP_READ_TIMEOUT, 20 s by default) or when it falls
below the minimum rate over a whole window (TIPDROP_RATE_WINDOW, 30 s), so
slow uploads are left alone for the few seconds this test runs (the drafts
are still in flight after the stall). Uploads the server ends itself are
tests/e2e/test_stalled_uploads.py's subject.
"""

import json
import socket
import sqlite3
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serving import multipart, start_server
from tests.stored import all_blobs, staged_blobs

pytestmark = pytest.mark.e2e

SLOW_CLIENTS = 3
CANARY = b"CANARY-SLOW-UPLOAD-7f3a"
#: Sent at once, so the server has started the encrypted (staged) blob.
HEAD_BYTES = 128 * 1024
TRICKLE_PIECE = 8
TRICKLE_PAUSE = 0.05
TRICKLE_SECONDS = 3.0
NORMAL_REQUEST = 10.0
#: How long the server may take to notice a gone client and clean up.
CLEANUP_DEADLINE = 15.0

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def slow_server(tmp_path):
    running = start_server(tmp_path, workers=2, extra_env={
        # The slow uploads and the other reporters' submits fit in one worker's
        # upload slots (beyond them an upload is refused at once): this test is
        # about slow bodies not holding up others, not about those refusals.
        "TIPDROP_UPLOAD_SLOTS": "8",
        "TIPDROP_SUBMITS_PER_HOUR": "100000",
        "TIPDROP_CHECKS_PER_HOUR": "100000",
    })
    yield running
    running.stop()


def _slow_upload_socket(server, number):
    """Open a raw connection and send the headers and the head of a multipart body."""
    file_bytes = (CANARY + b"\x00" * 233) * 4096  # ~1 MiB, never sent in full
    content_type, body = multipart(
        {"region": "astana", "category": "theft", "description": f"slow {number} " + CANARY.decode()},
        [("files", "slow.mp4", "video/mp4", file_bytes)])
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (f"POST /api/v1/tips HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[:HEAD_BYTES])
    return sock, body[HEAD_BYTES:]


def _trickle(sock, rest):
    """Send ``rest`` a few bytes at a time for TRICKLE_SECONDS, then stop sending."""
    end = time.monotonic() + TRICKLE_SECONDS
    offset = 0
    while time.monotonic() < end and offset < len(rest) - TRICKLE_PIECE:
        sock.sendall(rest[offset:offset + TRICKLE_PIECE])
        offset += TRICKLE_PIECE
        time.sleep(TRICKLE_PAUSE)
    return offset


def _give_up(sock, how):
    if how == "reset":
        # SO_LINGER 0: close() sends RST, as a phone losing its connection may.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    elif how == "half-close":
        sock.shutdown(socket.SHUT_WR)
        # The server sees end-of-body early; whatever it answers, it must be an error.
        sock.settimeout(CLEANUP_DEADLINE)
        try:
            answer = sock.recv(200)
        except OSError:
            answer = b""
        sock.close()
        assert not answer.startswith(b"HTTP/1.1 201"), answer
    else:
        sock.close()


def _post_json(server, path, doc):
    start = time.monotonic()
    status, _, body = server.request("POST", path, json.dumps(doc).encode(), JSON,
                                     timeout=NORMAL_REQUEST * 3)
    return status, body, time.monotonic() - start


def _normal_reporter(server, number):
    """A submit (JSON, or multipart with a small file) and a check of its receipt."""
    start = time.monotonic()
    if number % 2:
        content_type, body = multipart(
            {"region": "almaty", "category": "theft", "description": f"normal {number}"},
            [("files", "photo.txt", "text/plain", b"x" * 20_000)])
        status, _, answer = server.request("POST", "/api/v1/tips", body,
                                           {"Content-Type": content_type},
                                           timeout=NORMAL_REQUEST * 3)
    else:
        status, answer, _ = _post_json(server, "/api/v1/tips", {
            "region": "almaty", "category": "theft", "description": f"normal {number}"})
    submit_seconds = time.monotonic() - start
    assert status == 201, answer[:300]
    receipt = json.loads(answer)["receipt"]
    status, answer, check_seconds = _post_json(server, "/api/v1/check", {"receipt": receipt})
    assert status == 200, answer[:300]
    assert json.loads(answer)["status"] == "received"
    return submit_seconds, check_seconds


def _tip_count(server):
    db = sqlite3.connect(f"file:{server.data_dir / 'tipdrop.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM tips").fetchone()[0]
    finally:
        db.close()


def _part_files(server):
    """The unfinished uploads: blobs staged in the database (store/blobs.py)."""
    return staged_blobs(server.data_dir)


def test_slow_uploads_do_not_block_others_and_leave_nothing_behind(slow_server):
    server = slow_server
    before = _tip_count(server) if (server.data_dir / "tipdrop.db").exists() else 0

    # Given several uploads in flight, stalled after the head of their body
    sockets = [_slow_upload_socket(server, n) for n in range(SLOW_CLIENTS)]
    deadline = time.monotonic() + CLEANUP_DEADLINE
    while len(_part_files(server)) < SLOW_CLIENTS and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_part_files(server)) == SLOW_CLIENTS, "the slow uploads never started a blob"

    # When they trickle bytes in while other reporters submit and check
    with ThreadPoolExecutor(SLOW_CLIENTS + 4) as pool:
        trickles = [pool.submit(_trickle, sock, rest) for sock, rest in sockets]
        normal = [pool.submit(_normal_reporter, server, n) for n in range(6)]
        timings = [f.result(timeout=120) for f in normal]
        sent = [f.result(timeout=60) for f in trickles]
    assert all(n > 0 for n in sent)

    # Then the others were served in normal time
    slowest = max(max(pair) for pair in timings)
    assert slowest < NORMAL_REQUEST, f"a normal request took {slowest:.1f} s: {timings}"

    # And the stalled uploads are still in flight: well within their deadlines
    time.sleep(1.0)
    assert len(_part_files(server)) == SLOW_CLIENTS

    # When the slow clients give up, each its own way
    for (sock, _), how in zip(sockets, ["close", "reset", "half-close"], strict=False):
        _give_up(sock, how)

    # Then their drafts are discarded: no staged blob, no tip, no plaintext
    deadline = time.monotonic() + CLEANUP_DEADLINE
    while _part_files(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _part_files(server), "an abandoned upload left its staged blob behind"
    assert _tip_count(server) == before + len(timings)
    blobs = [name for name, staged in all_blobs(server.data_dir).items() if staged is None]
    assert len(blobs) == sum(1 for n in range(6) if n % 2)

    # And the server still works normally, with all its workers
    submit_seconds, check_seconds = _normal_reporter(server, 99)
    assert max(submit_seconds, check_seconds) < NORMAL_REQUEST
    server.stop()
    for root in (server.data_dir, server.tmp_dir):
        for path in root.rglob("*"):
            if path.is_file():
                assert CANARY not in path.read_bytes(), f"canary found in {path}"
    log = server.log_path.read_bytes()
    assert CANARY not in log and b"Traceback" not in log, log[-2000:]
