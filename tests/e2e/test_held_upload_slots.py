"""Reports without a large attachment are taken while trickling uploads hold every upload slot.

The attack of docs/threat-model.md ("A flood of junk"): from one address, as
many connections as there are upload slots, each sending a large upload a
little faster than TIPDROP_MIN_BODY_RATE, so the server never ends them.
Against a real ``tipdrop serve`` (one worker, two upload slots, and no
slot taken back from a slow upload: TIPDROP_CONTENDED_BODY_RATE=0), once they
hold both slots (a large upload is refused with 503 and Retry-After), a
JSON submit, a form sent without JavaScript (with its form token, as the
browser sends it), a small report sealed on the device by the reference
client, and a small resumable upload as the page's JavaScript sends it
each get their receipt, and each receipt checks. On the code before, each
took an upload slot and got 503.

Then the trickles end, and nothing of them is left: no tip, no staged blob,
their canary in no file of the data folder or the temp folder.
"""

import io
import json
import re
import secrets
import time

import pytest

from tests import stored
from tests.serving import multipart, start_server
from tests.slow_clients import PacedUpload, post_awaiting_refusal
from tipdrop.protocol import uploads
from tipdrop.protocol.report import Report
from tipdrop.reporter import client
from tipdrop.reporter.resumable import write_body
from tipdrop.server.web.upload import SMALL_BODY

pytestmark = pytest.mark.e2e

UPLOAD_SLOTS = 2
MIN_RATE = 1024
#: What each holder sends every TRICKLE_PAUSE: 4 KiB/s, four times the minimum
#: rate, so that a loaded machine's hiccups never make it "slow".
TRICKLE_BYTES = 1024
TRICKLE_PAUSE = 0.25
#: How long a large upload waits for a refusal before sending its body (generous: a
#: refusal is quick, but the machine may be loaded).
ANSWER_WAIT = 10
CANARY = b"CANARY-SLOT-HOLDER-7d2e"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, workers=1, extra_env={
        "TIPDROP_UPLOAD_SLOTS": str(UPLOAD_SLOTS),
        "TIPDROP_MIN_BODY_RATE": str(MIN_RATE),
        "TIPDROP_RATE_WINDOW": "3",
        # Slow holders keep their slots here, as against a client fast enough
        # not to be ended for a newcomer (tests/e2e/test_contended_upload_slots.py).
        "TIPDROP_CONTENDED_BODY_RATE": "0",
        # ... and refused at once, not after a wait in line for one
        # (tests/e2e/test_young_body_cyclers.py).
        "TIPDROP_UPLOAD_WAIT": "0",
        "TIPDROP_READ_TIMEOUT": "5",
        "TIPDROP_SUBMITS_PER_HOUR": "1000",
        "TIPDROP_CHECKS_PER_HOUR": "1000",
    })
    yield running
    running.stop()


def _upload_request(description, size):
    """(content type, body) of an API multipart submit with a ``size``-byte file carrying CANARY."""
    return multipart(
        {"region": "astana", "category": "theft", "description": description},
        [("files", "clip.mp4", "video/mp4", (CANARY + b"\x00" * 1000) * (size // 1024))])


def _holder(port, number):
    """A large upload trickling in above the minimum rate until told to stop, then cut off."""
    content_type, body = _upload_request(f"holder {number}", 4 * 1024 * 1024)
    return PacedUpload(port, "/api/v1/tips", content_type, body, TRICKLE_BYTES, TRICKLE_PAUSE)


def _hold(server, holders):
    """Start ``holders`` one by one, each once the one before holds its slot.

    An upload holds its slot while its file streams into a staged blob, so
    the count of staged blobs says how many slots are held.
    """
    for held, holder in enumerate(holders, start=1):
        holder.start()
        deadline = time.monotonic() + 60
        while (len(stored.staged_blobs(server.data_dir)) < held and holder.answer is None
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert len(stored.staged_blobs(server.data_dir)) == held, holder.answer


def _large_upload(server):
    """(status, Retry-After) of a large upload; a refusal is read before the body is sent."""
    content_type, body = _upload_request("a large upload", 2 * SMALL_BODY)
    try:
        status, _, retry_after = post_awaiting_refusal(server.port, "/api/v1/tips", content_type,
                                                       body, ANSWER_WAIT, timeout=30)
    except OSError as error:
        return repr(error), None
    return status, retry_after


def _checks(server, receipt):
    status, _, answer = server.request("POST", "/api/v1/check",
                                       json.dumps({"receipt": receipt}).encode(), JSON)
    return status == 200 and json.loads(answer)["status"] == "received"


def _small_sealed_body(server, tmp_path):
    """A text-only report sealed as the page's JavaScript seals it: (upload request, body)."""
    report = Report.build(region="astana", category="other", description="sent in pieces")
    work = tmp_path / "seal"
    work.mkdir()
    _, body, _ = client.seal_upload(report, [], server.unit_key.public.recipient, work)
    out = io.BytesIO()
    request = write_body(body.parts, out)
    return request, out.getvalue()


def _send_in_pieces(server, request, body):
    """Send a resumable upload of one piece, each step once; return the receipt."""
    key = secrets.token_hex(16)

    def call(method, path, data, content_type, **headers):
        status, _, raw = server.request(method, path, data, {
            "Content-Type": content_type, "Idempotency-Key": key, **headers})
        assert status in (200, 201), (path, status, raw[:300])
        return json.loads(raw)

    begun = call("POST", "/api/v1/uploads", json.dumps(request).encode(), "application/json")
    assert begun["pieces"] == 1, begun
    digest = uploads.piece_digest(body)
    call("PUT", "/api/v1/uploads/pieces/0", body, "application/octet-stream",
         **{"Piece-Digest": digest.hex()})
    chain = uploads.chain(uploads.upload_id(key), [digest])
    return call("POST", "/api/v1/uploads/finish", json.dumps({"chain": chain.hex()}).encode(),
                "application/json")["receipt"]


def test_reports_without_a_large_attachment_are_taken_while_trickles_hold_every_upload_slot(
        server, tmp_path):
    # Given as many large uploads as upload slots, trickling in above the minimum rate
    holders = [_holder(server.port, n) for n in range(UPLOAD_SLOTS)]
    try:
        _hold(server, holders)
        # ... holding every slot: a large upload is refused at once, with Retry-After
        status, retry_after = _large_upload(server)
        assert status == 503 and int(retry_after) > 0, status
        tips_before = stored.tip_count(server.data_dir)

        # When a reporter sends a report as JSON
        status, _, answer = server.request("POST", "/api/v1/tips", json.dumps(
            {"region": "astana", "category": "theft", "description": "sent as JSON"}).encode(),
            JSON)
        assert status == 201, answer[:300]
        receipts = [json.loads(answer)["receipt"]]

        # ... and one with the form, JavaScript off, with the page's form token
        token = server.form_token("/submit?lang=ru&category=theft")
        content_type, body = multipart({"token": token, "region": "astana", "category": "theft",
                                        "description": "sent with the form", "website": ""})
        status, headers, page = server.request("POST", "/submit?lang=ru", body,
                                               {"Content-Type": content_type})
        assert status == 203, page[:500]
        assert "Set-Cookie" not in headers
        receipts.append(re.search(rb'id="receipt">([^<]+)<', page).group(1).decode())

        # ... and one sealed on the device by the reference client, in one request
        sent = client.submit(f"http://127.0.0.1:{server.port}", region="astana",
                             category="theft", description="sealed on the device")
        receipts.append(sent.receipt.formatted)

        # ... and one sealed as the page's JavaScript sends it: begin, its one piece, finish
        receipts.append(_send_in_pieces(server, *_small_sealed_body(server, tmp_path)))

        # Then each was stored, and each receipt checks
        assert stored.tip_count(server.data_dir) == tips_before + 4
        assert all(_checks(server, receipt) for receipt in receipts), receipts

        # And meanwhile the slots were still held: a large upload is still refused
        status, retry_after = _large_upload(server)
        assert status == 503 and int(retry_after) > 0
        assert [h.answer for h in holders] == [None] * UPLOAD_SLOTS, "a holder was ended"
    finally:
        # When the trickles end (their connections cut mid-body)
        for holder in holders:
            holder.stop.set()
        for holder in holders:
            if holder.ident is not None:  # started
                holder.join(timeout=30)

    # Then nothing of them is left half-written: no staged blob, no tip, no canary
    deadline = time.monotonic() + 30
    while stored.staged_blobs(server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored.staged_blobs(server.data_dir) == []
    assert stored.tip_count(server.data_dir) == tips_before + 4
    server.stop()
    for root in (server.data_dir, server.tmp_dir):
        for path in root.rglob("*"):
            if path.is_file():
                assert CANARY not in path.read_bytes(), path
