"""A resumable upload's finish cut by a crash right after the report is stored
(docs/protocol.md section 19, "Idempotency"), against a real ``tipdrop serve``.

The whole server (master and workers) is killed with SIGKILL the moment the
report's row is visible in the database, then restarted on the same folders;
the device, which never got the answer, asks to finish again with the same
key. It must get what the first finish would have answered: the same report
(its receipt opens it), stored once, never an error.
"""

import http.client
import secrets
import sqlite3
import threading
import time
from contextlib import closing

import pytest

from tests.resumable import post_json, sealed_upload, send_pieces
from tests.serving import start_server
from tests.stored import tip_ids

pytestmark = pytest.mark.e2e

LIMITS = {"TIPDROP_SUBMITS_PER_HOUR": "1000", "TIPDROP_MAX_UPLOAD_MB": "16"}
#: Several pieces: what follows the report's commit (deleting them) takes a while.
EVIDENCE_BYTES = 8_000_000


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env=LIMITS)
    yield running
    running.stop()


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
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(EVIDENCE_BYTES),
                                  "finished just before the power went")
    key = secrets.token_hex(16)
    assert post_json(server, "/api/v1/uploads", request, key)[0] == 201
    chain = send_pieces(server, key, body).hex()

    # When the server crashes right after the finish stored the report
    finishing = threading.Thread(target=lambda: _quietly(
        lambda: post_json(server, f"/api/v1/uploads/finish{receipt_page}", {"chain": chain}, key)))
    finishing.start()
    _crash_once_the_report_is_stored(server)
    finishing.join(timeout=60)
    server.start()

    # Then the device's retry, with the same key, gets the answer of the first finish
    status, answer = post_json(server, f"/api/v1/uploads/finish{receipt_page}", {"chain": chain}, key)
    assert status == 200, answer
    assert answer["encrypted_on"] == "device" and len(answer["receipt"]) == 29
    assert ("receipt_page" in answer) == bool(receipt_page)
    # And that receipt opens the one report stored, which is stored once
    status, _ = post_json(server, "/api/v1/check", {"receipt": answer["receipt"]}, key)
    assert status == 200
    assert len(tip_ids(server.data_dir)) == 1
    # And asking again answers the same, and begin says it is done
    assert post_json(server, f"/api/v1/uploads/finish{receipt_page}", {"chain": chain}, key) == \
        (200, answer)
    status, begun = post_json(server, "/api/v1/uploads", request, key)
    assert (status, begun["state"]) == (200, "done")


def _quietly(call):
    """The request the crash cuts: its connection drops, before or during the answer."""
    try:
        call()
    except (OSError, ValueError, http.client.HTTPException):  # IncompleteRead: cut mid-answer
        pass
