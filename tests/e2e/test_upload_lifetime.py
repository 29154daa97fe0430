"""The lifetime of a resumable upload (docs/protocol.md section 19, "Lifetime"), against a
real ``tipdrop serve`` (gunicorn, two workers) with TIPDROP_UPLOAD_LIFETIME_SECONDS set short.

A piece now and then keeps an upload from going idle, but not past its
lifetime from its begin: then its next request deletes it and is refused as
a swept upload (409 UploadSweptError, in the request's language). An upload
that received all its pieces in time is still stored when its finish comes
later.
"""

import json
import secrets
import sqlite3
import time
from contextlib import closing

import pytest

from tests.resumable import cut_pieces, post_json, put_piece, sealed_upload, send_pieces
from tests.serving import start_server
from tests.stored import tip_ids
from tipdrop.protocol import uploads

pytestmark = pytest.mark.e2e

LIFETIME = 4  # seconds, TIPDROP_UPLOAD_LIFETIME_SECONDS (the idle time stays 600)


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env={
        "TIPDROP_SUBMITS_PER_HOUR": "1000", "TIPDROP_OPEN_UPLOADS": "3",
        "TIPDROP_MAX_UPLOAD_MB": "8", "TIPDROP_UPLOAD_LIFETIME_SECONDS": str(LIFETIME)})
    yield running
    running.stop()


def _unfinished(server):
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return db.execute("SELECT COUNT(*) FROM uploads WHERE state != 'done'").fetchone()[0]


def _past_lifetime(begun):
    time.sleep(max(0.0, begun + LIFETIME + 1.2 - time.time()))


def test_an_upload_sending_a_piece_now_and_then_is_swept_at_the_end_of_its_lifetime(
        server, tmp_path):
    # Given an upload of three pieces, begun, with a piece sent well within the idle time
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(2_500_000), "dribbled")
    pieces = cut_pieces(body)
    key = secrets.token_hex(16)
    begun = time.time()
    assert post_json(server, "/api/v1/uploads", request, key)[0] == 201
    assert put_piece(server, key, 0, pieces[0]) == (200, {"received": 1})

    # When its next piece comes after its lifetime (but long before the idle time)
    _past_lifetime(begun)
    status, _, raw = server.request(
        "PUT", "/api/v1/uploads/pieces/1", pieces[1],
        {"Content-Type": "application/octet-stream", "Idempotency-Key": key,
         "Piece-Digest": uploads.piece_digest(pieces[1]).hex(),
         "Accept-Language": "ru"})

    # Then it is refused as a swept upload, in the reporter's language, and deleted
    answer = json.loads(raw)
    assert (status, answer["error"]) == (409, "UploadSweptError")
    assert answer["message"].startswith("Эта загрузка шла слишком долго"), answer["message"]
    assert _unfinished(server) == 0
    assert put_piece(server, key, 1, pieces[1])[0] == 404
    assert tip_ids(server.data_dir) == []


def test_asking_how_far_an_upload_got_after_its_lifetime_is_refused_and_sweeps_it(
        server, tmp_path):
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_500_000), "asked late")
    key = secrets.token_hex(16)
    begun = time.time()
    assert post_json(server, "/api/v1/uploads", request, key)[0] == 201
    assert put_piece(server, key, 0, cut_pieces(body)[0]) == (200, {"received": 1})

    _past_lifetime(begun)
    status, answer = post_json(server, "/api/v1/uploads", request, key)

    assert (status, answer["error"]) == (409, "UploadSweptError")
    assert _unfinished(server) == 0


def test_an_upload_whose_pieces_all_arrived_in_time_is_stored_by_a_later_finish(
        server, tmp_path):
    # Given every piece sent within the lifetime
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_500_000), "in time")
    key = secrets.token_hex(16)
    begun = time.time()
    assert post_json(server, "/api/v1/uploads", request, key)[0] == 201
    chain = send_pieces(server, key, body)

    # When the device asks where it is, then finishes, after the lifetime
    _past_lifetime(begun)
    status, answer = post_json(server, "/api/v1/uploads", request, key)
    assert (status, answer["received"], answer["state"]) == (200, 2, "open")
    status, answer = post_json(server, "/api/v1/uploads/finish", {"chain": chain.hex()}, key)

    # Then its report is stored
    assert status == 201 and len(answer["receipt"]) == 29
    assert len(tip_ids(server.data_dir)) == 1
