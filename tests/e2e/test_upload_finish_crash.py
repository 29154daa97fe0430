"""A resumable upload's finish cut by a crash right after the report is stored
(docs/protocol.md section 19, "Idempotency"), against a real ``tipdrop serve``.

The whole server (master and workers) is killed with SIGKILL the moment the
report's row is visible in the database, then restarted on the same folders;
the device, which never got the answer, asks to finish again with the same
key. It must get what the first finish would have answered: the same report
(its receipt opens it), stored once, never an error.
"""

import io
import json
import secrets
import sqlite3
import threading
import time
from contextlib import closing

import pytest

from tests.serving import start_server
from tipdrop.protocol import uploads
from tipdrop.protocol.report import Report
from tipdrop.reporter import client
from tipdrop.reporter.resumable import write_body

pytestmark = pytest.mark.e2e

LIMITS = {"TIPDROP_SUBMITS_PER_HOUR": "1000", "TIPDROP_MAX_UPLOAD_MB": "16"}
#: Several pieces: what follows the report's commit (deleting them) takes a while.
EVIDENCE_BYTES = 8_000_000


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env=LIMITS)
    yield running
    running.stop()


def _sealed(server, tmp_path, description):
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(EVIDENCE_BYTES))
    work = tmp_path / f"seal-{secrets.token_hex(4)}"
    work.mkdir()
    report = Report.build(region="astana", category="other", description=description)
    _, body, _ = client.seal_upload(report, [tmp_path / "clip.bin"],
                                    server.unit_key.public.recipient, work)
    out = io.BytesIO()
    return write_body(body.parts, out), out.getvalue()


def _json(server, path, doc, key):
    status, _, raw = server.request("POST", path, json.dumps(doc).encode(),
                                    {"Content-Type": "application/json", "Idempotency-Key": key})
    return status, json.loads(raw)


def _send_pieces(server, key, body):
    pieces = [body[i:i + uploads.PIECE_BYTES] for i in range(0, len(body), uploads.PIECE_BYTES)]
    for index, piece in enumerate(pieces):
        status, _, raw = server.request(
            "PUT", f"/api/v1/uploads/pieces/{index}", piece,
            {"Content-Type": "application/octet-stream", "Idempotency-Key": key,
             "Piece-Digest": uploads.piece_digest(piece).hex()})
        assert status == 200, raw
    return uploads.chain(uploads.upload_id(key), [uploads.piece_digest(p) for p in pieces])


def _tips(server):
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return [row[0] for row in db.execute("SELECT id FROM tips")]


def _crash_once_the_report_is_stored(server, timeout=120):
    """SIGKILL the whole server as soon as a tip row is committed."""
    deadline = time.monotonic() + timeout
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        while time.monotonic() < deadline:
            if db.execute("SELECT 1 FROM tips").fetchone():
                server.kill()
                return
            time.sleep(0.0005)
    raise AssertionError("the report was never stored")


@pytest.mark.parametrize("receipt_page", ["", "?receipt_page=yes"])
def test_a_finish_retried_after_a_crash_answers_the_stored_report(
        server, tmp_path, receipt_page):
    # Given every piece of a report arrived
    request, body = _sealed(server, tmp_path, "finished just before the power went")
    key = secrets.token_hex(16)
    assert _json(server, "/api/v1/uploads", request, key)[0] == 201
    chain = _send_pieces(server, key, body).hex()

    # When the server crashes right after the finish stored the report
    finishing = threading.Thread(target=lambda: _quietly(
        lambda: _json(server, f"/api/v1/uploads/finish{receipt_page}", {"chain": chain}, key)))
    finishing.start()
    _crash_once_the_report_is_stored(server)
    finishing.join(timeout=60)
    server.start()

    # Then the device's retry, with the same key, gets the answer of the first finish
    status, answer = _json(server, f"/api/v1/uploads/finish{receipt_page}", {"chain": chain}, key)
    assert status == 200, answer
    assert answer["encrypted_on"] == "device" and len(answer["receipt"]) == 29
    assert ("receipt_page" in answer) == bool(receipt_page)
    # And that receipt opens the one report stored, which is stored once
    status, _ = _json(server, "/api/v1/check", {"receipt": answer["receipt"]}, key)
    assert status == 200
    assert len(_tips(server)) == 1
    # And asking again answers the same, and begin says it is done
    assert _json(server, f"/api/v1/uploads/finish{receipt_page}", {"chain": chain}, key) == \
        (200, answer)
    status, begun = _json(server, "/api/v1/uploads", request, key)
    assert (status, begun["state"]) == (200, "done")


def _quietly(call):
    """The request the crash cuts: its connection simply drops."""
    try:
        call()
    except (OSError, ValueError):
        pass
