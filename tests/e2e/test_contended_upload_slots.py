"""When every upload slot is held, a slow upload gives its slot to a newcomer; a fast one keeps it.

The attack of docs/threat-model.md ("A flood of junk"): as many connections
as there are upload slots, each sending a large upload a little above
TIPDROP_MIN_BODY_RATE, held every slot for as long as their bodies lasted,
and every report with a large attachment got 503. Against a real
``tipdrop serve`` (one worker, one upload slot): once a trickling upload
has held the slot for a whole TIPDROP_RATE_WINDOW below
TIPDROP_CONTENDED_BODY_RATE, a reporter's large upload ends it (408, its
staged blob deleted) and is stored; an upload above that rate keeps its
slot, and the newcomer, once it has waited TIPDROP_UPLOAD_WAIT in line, gets
503 with Retry-After, as before.
"""

import json
import time

import pytest

from tests import stored
from tests.serving import multipart, start_server
from tests.slow_clients import PacedUpload, post_awaiting_refusal
from tipdrop.server.web.upload import SMALL_BODY

pytestmark = pytest.mark.e2e

WINDOW = 4
CONTENDED_RATE = 64 * 1024
CANARY = b"CANARY-CONTENDED-SLOT-3b81"
#: Seconds a large upload waits in line for a slot before it is refused.
UPLOAD_WAIT = 3


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, workers=1, extra_env={
        "TIPDROP_UPLOAD_SLOTS": "1",
        "TIPDROP_MIN_BODY_RATE": "1024",
        "TIPDROP_RATE_WINDOW": str(WINDOW),
        "TIPDROP_CONTENDED_BODY_RATE": str(CONTENDED_RATE),
        "TIPDROP_READ_TIMEOUT": "10",
        "TIPDROP_UPLOAD_WAIT": str(UPLOAD_WAIT),
        "TIPDROP_SUBMITS_PER_HOUR": "1000",
        "TIPDROP_CHECKS_PER_HOUR": "1000",
    })
    yield running
    running.stop()


def _upload_request(description, size):
    return multipart(
        {"region": "astana", "category": "theft", "description": description},
        [("files", "clip.mp4", "video/mp4", (CANARY + b"\x00" * 1000) * (size // 1024))])


def _holding(server, step, pause, size):
    """A large upload sent at ``step`` bytes every ``pause`` s, once it holds the slot a window."""
    content_type, body = _upload_request("holder", size)
    holder = PacedUpload(server.port, "/api/v1/tips", content_type, body, step, pause)
    holder.start()
    deadline = time.monotonic() + 60
    while not stored.staged_blobs(server.data_dir) and time.monotonic() < deadline:
        assert holder.answer is None, holder.answer
        time.sleep(0.1)
    assert len(stored.staged_blobs(server.data_dir)) == 1, holder.answer
    time.sleep(WINDOW + 1.5)  # a whole window of its speed
    return holder


def _newcomer(server, wait=3):
    """(status, answer, Retry-After) of a large upload sent at full speed, after ``wait`` s for a refusal."""
    content_type, body = _upload_request("the newcomer", 2 * SMALL_BODY)
    return post_awaiting_refusal(server.port, "/api/v1/tips", content_type, body, wait)


def _stop(holder):
    holder.stop.set()
    holder.join(timeout=30)


def test_a_trickling_upload_gives_its_slot_to_a_newcomer(server):
    # Given a large upload trickling in at 4 KiB/s (above the minimum rate,
    # far below the contended rate) that has held the only slot for a window
    holder = _holding(server, 1024, 0.25, 4 * 1024 * 1024)
    try:
        # When a reporter sends a large upload at full speed
        status, answer, _ = _newcomer(server)
        # Then it is stored and its receipt checks
        assert status == 201, (status, answer[:300])
        receipt = json.loads(answer)["receipt"]
        check_status, _, check = server.request(
            "POST", "/api/v1/check", json.dumps({"receipt": receipt}).encode(),
            {"Content-Type": "application/json"})
        assert check_status == 200 and json.loads(check)["status"] == "received"
        # And the trickle was ended with 408, before it was told to stop
        deadline = time.monotonic() + 30
        while holder.answer is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert holder.status == 408, holder.answer
    finally:
        _stop(holder)
    # And nothing of it is left: its staged blob is gone, only the newcomer's tip is stored
    deadline = time.monotonic() + 30
    while stored.staged_blobs(server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored.staged_blobs(server.data_dir) == []
    assert stored.tip_count(server.data_dir) == 1


def test_an_upload_above_the_contended_rate_keeps_its_slot(server):
    # Given a large upload at 256 KiB/s, four times the contended rate, holding the slot
    holder = _holding(server, 64 * 1024, 0.25, 24 * 1024 * 1024)
    try:
        # When another large upload comes (and waits in line as long as the server lets it)
        status, _, retry_after = _newcomer(server, wait=UPLOAD_WAIT + 10)
        # Then the newcomer is refused with 503 and Retry-After, and the holder goes on
        assert status == 503 and int(retry_after) > 0, status
        assert holder.answer is None, holder.answer
        assert len(stored.staged_blobs(server.data_dir)) == 1
    finally:
        _stop(holder)
