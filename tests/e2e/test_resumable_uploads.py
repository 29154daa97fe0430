"""Reports sealed on a device, sent in pieces that resume (docs/protocol.md section 19),
against a real ``tipdrop serve`` (gunicorn, two workers): a connection cut in the
middle of a piece, a finish repeated, damaged and misordered pieces, the limits,
and ``tipdrop purge`` deleting what was never finished.
"""

import io
import json
import secrets
import socket
import sqlite3
from contextlib import closing

import pytest

from tests.resumable import (
    cut_pieces,
    officer_reads,
    post_json,
    put_piece,
    resumable,
    sealed_upload,
)
from tests.serving import multipart, start_server
from tests.stored import tip_ids
from tipdrop.protocol import uploads
from tipdrop.reporter.resumable import UploadRefusedError
from tipdrop.server.settings import Settings
from tipdrop.server.web import pagelinks
from tipdrop.server.web.ratelimit import shared_dir

pytestmark = pytest.mark.e2e

RUNTIME_DIR = Settings.runtime_dir  # the default, which tests.serving keeps
LIMITS = {"TIPDROP_SUBMITS_PER_HOUR": "1000", "TIPDROP_OPEN_UPLOADS": "3",
          "TIPDROP_MAX_UPLOAD_MB": "4"}


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env=LIMITS)
    yield running
    running.stop()


def _cut_piece(server, key, index, data):
    """Send piece ``index``'s head and half its body, then drop the connection."""
    head = (f"PUT /api/v1/uploads/pieces/{index} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/octet-stream\r\nIdempotency-Key: {key}\r\n"
            f"Piece-Digest: {uploads.piece_digest(data).hex()}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    with closing(socket.create_connection(("127.0.0.1", server.port))) as sock:
        sock.sendall(head + data[:len(data) // 2])


def _uploads_rows(server):
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return db.execute("SELECT state, pieces, blob FROM uploads").fetchall()


def test_a_cut_connection_resumes_and_the_officer_gets_exactly_the_file(
        server, tmp_path, run_cli):
    # Given a report with a 2.5 MB file: three pieces
    evidence = secrets.token_bytes(2_500_000)
    request, body = sealed_upload(server, tmp_path, evidence)
    upload = resumable(server, request)
    status, begun = post_json(server, "/api/v1/uploads", request, upload.key)
    assert (status, begun["received"], begun["pieces"]) == (201, 0, 3)

    # When the first piece arrives and the connection drops in the middle of the second
    assert put_piece(server, upload.key, 0, cut_pieces(body)[0]) == (200, {"received": 1})
    _cut_piece(server, upload.key, 1, cut_pieces(body)[1])

    # Then asking again says where to go on, and the client resumes from there
    status, again = post_json(server, "/api/v1/uploads", request, upload.key)
    assert (status, again["received"]) == (200, 1)
    answer = upload.send(io.BytesIO(body))
    assert answer["encrypted_on"] == "device" and len(answer["receipt"]) == 29

    # And exactly one report is stored, with nothing of the upload left but its sealed answer
    [tip_id] = tip_ids(server.data_dir)
    assert _uploads_rows(server) == [("done", 3, None)]

    # And the officer's tool decrypts the very bytes that were chosen
    shown, saved = officer_reads(run_cli, server, tmp_path, tip_id)
    assert "resumed over a bad network" in shown
    assert saved == evidence


def test_a_repeated_finish_answers_the_same_and_stores_no_second_report(server, tmp_path):
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(10_000))
    upload = resumable(server, request)
    first = upload.send(io.BytesIO(body))
    # The answer was lost: the device asks to begin and to finish again, with the same key
    status, begun = post_json(server, "/api/v1/uploads", request, upload.key)
    assert (status, begun["state"]) == (200, "done")
    chain = uploads.chain(uploads.upload_id(upload.key), [uploads.piece_digest(body)])
    status, again = post_json(server, "/api/v1/uploads/finish", {"chain": chain.hex()}, upload.key)
    assert (status, again) == (200, first)
    assert len(tip_ids(server.data_dir)) == 1
    # The same key for another report is refused, not taken as a resume
    other, _ = sealed_upload(server, tmp_path, b"x" * 100)
    status, refused = post_json(server, "/api/v1/uploads", other, upload.key)
    assert (status, refused["error"]) == (422, "UploadKeyReusedError")


def _page_keys(server):
    """The keys of one-time receipt pages the server holds (its folder in RAM, pagelinks.py)."""
    folder = shared_dir(RUNTIME_DIR, server.data_dir) / pagelinks.FOLDER
    return set(folder.iterdir()) if folder.exists() else set()


def test_a_request_that_stores_no_report_keeps_no_receipt_page_key(server, tmp_path):
    before = _page_keys(server)
    # Refused reports from the form and the one-request API
    content_type, form = multipart({"token": "forged", "region": "astana",
                                    "category": "other", "description": "x"})
    status, _, _ = server.request("POST", "/submit?lang=kk", form, {"Content-Type": content_type})
    assert status == 403  # the form token is not ours
    content_type, form = multipart({"region": "astana", "category": "other"})
    status, _, _ = server.request("POST", "/api/v1/sealed-tips?receipt_page=yes", form,
                                  {"Content-Type": content_type})
    assert status == 400
    # A finish asking for a receipt page, for an upload never begun (anyone
    # can send that, as often as they like), and for one not complete yet
    for _ in range(20):
        status, answer = post_json(server, "/api/v1/uploads/finish?receipt_page=yes",
                                   {"chain": "0" * 64}, secrets.token_hex(16))
        assert (status, answer["error"]) == (404, "UploadNotFoundError")
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(10_000))
    key = secrets.token_hex(16)
    assert post_json(server, "/api/v1/uploads", request, key)[0] == 201
    status, answer = post_json(server, "/api/v1/uploads/finish?receipt_page=yes",
                               {"chain": "0" * 64}, key)
    assert (status, answer["error"]) == (409, "UploadIncompleteError")
    # Then no key was left behind for 30 minutes in the server's RAM folder
    assert _page_keys(server) == before
    # A report stored keeps one, for its receipt page; a retried finish
    # answers the same link and keeps no other
    assert put_piece(server, key, 0, body)[0] == 200
    chain = uploads.chain(uploads.upload_id(key), [uploads.piece_digest(body)]).hex()
    status, first = post_json(server, "/api/v1/uploads/finish?receipt_page=yes", {"chain": chain}, key)
    assert status == 201 and first["receipt_page"]
    assert len(_page_keys(server) - before) == 1
    status, again = post_json(server, "/api/v1/uploads/finish?receipt_page=yes", {"chain": chain}, key)
    assert (status, again) == (200, first)
    assert len(_page_keys(server) - before) == 1


def test_pieces_out_of_order_or_damaged_are_refused_and_nothing_moves(server, tmp_path):
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_500_000))
    key = secrets.token_hex(16)
    pieces = cut_pieces(body)
    assert post_json(server, "/api/v1/uploads", request, key)[0] == 201
    # Piece 1 before piece 0
    status, answer = put_piece(server, key, 1, pieces[1])
    assert (status, answer["error"]) == (409, "PieceOutOfOrderError")
    # Piece 0 whose bytes do not match its digest (one bit flipped on the way)
    damaged = bytes([pieces[0][0] ^ 1]) + pieces[0][1:]
    status, answer = put_piece(server, key, 0, damaged, uploads.piece_digest(pieces[0]).hex())
    assert (status, answer["error"]) == (422, "PieceDigestError")
    # A piece of the wrong size, even with its own digest
    status, answer = put_piece(server, key, 0, pieces[0][:-1])
    assert (status, answer["error"]) == (422, "PieceDigestError")
    assert post_json(server, "/api/v1/uploads", request, key)[1]["received"] == 0
    # Finishing before every piece is there
    status, answer = post_json(server, "/api/v1/uploads/finish", {"chain": "00" * 32}, key)
    assert (status, answer["error"]) == (409, "UploadIncompleteError")
    # Every piece, then a chain that is not the device's: the upload is deleted, no report
    assert put_piece(server, key, 0, pieces[0])[0] == 200
    assert put_piece(server, key, 1, pieces[1])[0] == 200
    status, answer = post_json(server, "/api/v1/uploads/finish", {"chain": "00" * 32}, key)
    assert (status, answer["error"]) == (422, "ChainMismatchError")
    assert tip_ids(server.data_dir) == [] and _uploads_rows(server) == []
    status, answer = put_piece(server, key, 2, b"x")
    assert (status, answer["error"]) == (404, "UploadNotFoundError")


def test_parts_that_are_not_what_they_claim_store_nothing(server, tmp_path):
    # The pieces are intact, but the "tip" part is not a sealed report: all or nothing
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(5_000))
    names = [name for name, _ in request["parts"]]
    at = sum(size for _, size in request["parts"][:names.index("tip")])
    size = dict(request["parts"])["tip"]
    body = body[:at] + secrets.token_bytes(size) + body[at + size:]
    with pytest.raises(UploadRefusedError) as refused:
        resumable(server, request).send(io.BytesIO(body))
    assert refused.value.status == 400
    assert tip_ids(server.data_dir) == [] and _uploads_rows(server) == []
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM blob_chunks").fetchone() == (0,)


def test_limits_on_size_and_on_uploads_open_at_once(server, tmp_path):
    request, _ = sealed_upload(server, tmp_path, b"small")
    # More bytes than TIPDROP_MAX_UPLOAD_MB
    big = {**request, "parts": [*request["parts"][:-1], [request["parts"][-1][0], 5 << 20]]}
    status, answer = post_json(server, "/api/v1/uploads", big, secrets.token_hex(16))
    assert (status, answer["error"]) == (413, "UploadTooLargeError")
    # A part the protocol does not know, a key that is not 128 bits of hex
    odd = {**request, "parts": [["a1-thumbnail", 10], *request["parts"]]}
    assert post_json(server, "/api/v1/uploads", odd, secrets.token_hex(16))[1]["error"] == \
        "UploadRequestError"
    assert post_json(server, "/api/v1/uploads", request, "not-a-key")[1]["error"] == "UploadKeyError"
    # TIPDROP_OPEN_UPLOADS (3) unfinished at once, the fourth is told to come back later
    for _ in range(3):
        fresh, _ = sealed_upload(server, tmp_path, b"small")
        assert post_json(server, "/api/v1/uploads", fresh, secrets.token_hex(16))[0] == 201
    fresh, _ = sealed_upload(server, tmp_path, b"small")
    status, _, raw = server.request("POST", "/api/v1/uploads", json.dumps(fresh).encode(),
                                    {"Content-Type": "application/json",
                                     "Idempotency-Key": secrets.token_hex(16)})
    assert status == 503 and json.loads(raw)["error"] == "TooManyUploadsError"


def test_purge_deletes_unfinished_uploads_past_their_time(server, tmp_path, run_cli):
    old, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_200_000))
    old_key = secrets.token_hex(16)
    assert post_json(server, "/api/v1/uploads", old, old_key)[0] == 201
    assert put_piece(server, old_key, 0, cut_pieces(body)[0])[0] == 200
    fresh, _ = sealed_upload(server, tmp_path, b"small")
    assert post_json(server, "/api/v1/uploads", fresh, secrets.token_hex(16))[0] == 201
    # The first began two days ago (days are all that is stored)
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db, db:
        [upload] = db.execute("SELECT id FROM uploads WHERE pieces = 1").fetchone()
        db.execute("UPDATE uploads SET day = date('now', '-2 days') WHERE id = ?", [upload])
        db.execute("UPDATE blobs SET staged_day = date('now', '-1 days') "
                   "WHERE id = (SELECT blob FROM uploads WHERE id = ?)", [upload])
    dry = run_cli("purge", "--dry-run", env=server.env(), check=True)
    assert "would delete 1 uploads in pieces past their time" in dry.stdout
    assert len(_uploads_rows(server)) == 2
    purged = run_cli("purge", env=server.env(), check=True)
    assert "deleted 1 uploads in pieces past their time" in purged.stdout
    assert [row[:2] for row in _uploads_rows(server)] == [("open", 0)]
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM blob_chunks").fetchone() == (0,)
    # The device of the purged upload is told it is gone
    status, answer = put_piece(server, old_key, 1, cut_pieces(body)[1])
    assert (status, answer["error"]) == (404, "UploadNotFoundError")


def test_the_server_log_holds_no_upload_key_tip_id_or_content(server, tmp_path):
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_100_000))
    upload = resumable(server, request)
    post_json(server, "/api/v1/uploads", request, upload.key)
    put_piece(server, upload.key, 1, body[:10])  # refused: out of order
    upload.send(io.BytesIO(body))
    log = server.log_path.read_bytes()
    for secret in (upload.key, uploads.upload_id(upload.key), request["tip_id"]):
        assert secret.encode() not in log
