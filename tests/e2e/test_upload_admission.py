"""Who holds a place among TIPDROP_OPEN_UPLOADS (docs/protocol.md section 19, "Idle
uploads"), against a real ``tipdrop serve`` (gunicorn, two workers).

Begins that never send a piece fill the bound, but only until they have been
idle for TIPDROP_UPLOAD_IDLE_SECONDS (set short here): then a reporter's
upload takes the place of the longest idle one. An upload that keeps sending
pieces is never the one given up, however long it takes.
"""

import io
import json
import secrets
import sqlite3
import time
from contextlib import closing

import pytest

from tests.resumable import cut_pieces, post_json, put_piece, resumable, sealed_upload
from tests.serving import start_server
from tests.stored import tip_ids
from tipdrop.protocol import puzzle, uploads

pytestmark = pytest.mark.e2e

IDLE = 3  # seconds, TIPDROP_UPLOAD_IDLE_SECONDS


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env={
        "TIPDROP_SUBMITS_PER_HOUR": "1000", "TIPDROP_OPEN_UPLOADS": "3",
        "TIPDROP_MAX_UPLOAD_MB": "8", "TIPDROP_UPLOAD_IDLE_SECONDS": str(IDLE)})
    yield running
    running.stop()


def _unfinished(server):
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return db.execute("SELECT COUNT(*) FROM uploads WHERE state != 'done'").fetchone()[0]


def _begin(server, tmp_path, key=None):
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_200_000))
    key = key or secrets.token_hex(16)
    return post_json(server, "/api/v1/uploads", request, key)[0], key, body


def _idle_past(moment):
    """Sleep until uploads last touched at ``moment`` (time.time()) count as idle."""
    time.sleep(max(0.0, moment + IDLE + 1.2 - time.time()))


def test_begins_that_send_nothing_give_their_place_to_a_reporter_once_idle(server, tmp_path):
    # Given the open-upload bound (3) filled by begins that never send a piece
    begun = time.time()
    flood = [_begin(server, tmp_path) for _ in range(3)]
    assert [status for status, _, _ in flood] == [201, 201, 201]
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(2_100_000), "after a flood")
    status, answer = post_json(server, "/api/v1/uploads", request, secrets.token_hex(16))
    assert (status, answer["error"]) == (503, "TooManyUploadsError")

    # When they have sent nothing for the idle time, a reporter's upload gets in and is stored
    _idle_past(begun)
    answer = resumable(server, request).send(io.BytesIO(body))
    assert answer["encrypted_on"] == "device" and len(answer["receipt"]) == 29
    assert len(tip_ids(server.data_dir)) == 1

    # Then the longest idle begin gave its place (its device is told it is gone), the
    # others are still there, and never more than the bound were unfinished
    (_, first, first_body), *rest = flood
    status, answer = put_piece(server, first, 0, cut_pieces(first_body)[0])
    assert (status, answer["error"]) == (404, "UploadNotFoundError")
    for _, key, body in rest:
        assert put_piece(server, key, 0, cut_pieces(body)[0]) == (200, {"received": 1})
    assert _unfinished(server) == 2


def test_an_upload_sending_pieces_keeps_its_place_while_idle_ones_give_theirs(server, tmp_path):
    # Given a reporter's upload of five pieces and two begins that send nothing: the bound (3)
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(4_500_000), "slow and steady")
    reporter = resumable(server, request)
    assert post_json(server, "/api/v1/uploads", request, reporter.key)[0] == 201
    idle = [_begin(server, tmp_path) for _ in range(2)]
    assert [status for status, _, _ in idle] == [201, 201]
    pieces = cut_pieces(body)
    assert len(pieces) == 5

    # When the reporter sends a piece now and then, for longer than the idle time
    begun = time.time()
    sent = 0
    while time.time() < begun + IDLE + 1.2:
        assert put_piece(server, reporter.key, sent, pieces[sent]) == (200, {"received": sent + 1})
        sent += 1
        time.sleep(1.5)
    assert put_piece(server, reporter.key, sent, pieces[sent]) == (200, {"received": sent + 1})

    # Then two new uploads take the idle begins' places, not the reporter's, and a third
    # is refused: the reporter's upload, still moving, holds its place
    assert [_begin(server, tmp_path)[0] for _ in range(3)] == [201, 201, 503]
    for _, key, idle_body in idle:
        assert put_piece(server, key, 0, cut_pieces(idle_body)[0])[0] == 404

    # And the reporter's upload goes on where it was and is stored
    answer = reporter.send(io.BytesIO(body))
    assert len(answer["receipt"]) == 29 and len(tip_ids(server.data_dir)) == 1


class _Stalling(io.BytesIO):
    """The reporter's file, whose piece 1 is read only after ``meanwhile()`` ran."""

    def __init__(self, data, meanwhile):
        super().__init__(data)
        self.meanwhile = meanwhile
        # The client reads the body once before its begin, for the report digest.
        self.digested = False

    def read(self, size=-1):
        if self.tell() == uploads.PIECE_BYTES and not self.digested:
            self.digested = True
        elif self.tell() == uploads.PIECE_BYTES and self.meanwhile:
            self.meanwhile, meanwhile = None, self.meanwhile
            meanwhile()
        return super().read(size)


def test_a_device_whose_idle_upload_was_given_up_begins_again_and_its_report_is_stored(
        server, tmp_path):
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(2_100_000), "came back")
    reporter = resumable(server, request)

    def stalled_then_crowded_out():
        # The reporter's device stalls after piece 0, long enough to be idle; three
        # new begins come, the third takes its place; then they too go idle.
        _idle_past(time.time())
        assert [_begin(server, tmp_path)[0] for _ in range(3)] == [201, 201, 201]
        _idle_past(time.time())

    # When the device comes back, its next piece is answered 404: it begins a new upload
    # (docs/protocol.md section 19, "Starting over")
    first_key = reporter.key
    answer = reporter.send(_Stalling(body, stalled_then_crowded_out))

    # Then its report is stored all the same, exactly once
    assert len(answer["receipt"]) == 29 and len(tip_ids(server.data_dir)) == 1
    assert reporter.restarts == 1 and reporter.key != first_key
    assert _unfinished(server) == 2


@pytest.fixture
def tight_server(tmp_path):
    """One open upload at a time, two begins an hour, puzzles past that (cheap ones)."""
    running = start_server(tmp_path, extra_env={
        "TIPDROP_SUBMITS_PER_HOUR": "2", "TIPDROP_OPEN_UPLOADS": "1", "TIPDROP_PUZZLE_BITS": "6",
        "TIPDROP_MAX_UPLOAD_MB": "8", "TIPDROP_UPLOAD_IDLE_SECONDS": str(IDLE)})
    yield running
    running.stop()


def _begin_with(server, request, key, solution=None):
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    if solution is not None:
        headers[puzzle.SOLUTION_HEADER] = solution
    status, _, raw = server.request("POST", "/api/v1/uploads", json.dumps(request).encode(),
                                    headers)
    return status, json.loads(raw)


def test_a_begin_refused_for_want_of_room_costs_neither_a_submission_nor_a_puzzle(
        tight_server, tmp_path):
    server = tight_server
    # Given the one open place held by an upload that sends pieces (the first of two begins)
    held_request, _ = sealed_upload(server, tmp_path, secrets.token_bytes(10_000), "held")
    assert _begin_with(server, held_request, secrets.token_hex(16))[0] == 201
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(10_000), "waits for a place")
    key = secrets.token_hex(16)

    # When a reporter's device begins again and again while there is no room
    tries = [_begin_with(server, request, key) for _ in range(4)]

    # Then each try is a 503 that says so, never a 429: the tries counted nothing ...
    assert [(status, answer["error"]) for status, answer in tries] == [
        (503, "TooManyUploadsError")] * 4
    # ... so once the held upload is idle, the second begin of the hour takes its place
    _idle_past(time.time())
    assert _begin_with(server, request, key)[0] == 201

    # And past the hour's two begins, a puzzle solved while there was room ...
    _idle_past(time.time())
    late_request, _ = sealed_upload(server, tmp_path, secrets.token_bytes(10_000), "past the limit")
    late = secrets.token_hex(16)
    status, answer = _begin_with(server, late_request, late)
    assert status == 429 and answer["puzzle"], answer
    solution = puzzle.solve_offered(answer["puzzle"])
    # ... sent when the place is busy again (the upload in it sends a piece) ...
    assert put_piece(server, key, 0, cut_pieces(body)[0]) == (200, {"received": 1})
    status, answer = _begin_with(server, late_request, late, solution)
    assert (status, answer["error"]) == (503, "TooManyUploadsError")
    # ... is still good once there is room: the 503 did not spend it
    _idle_past(time.time())
    status, answer = _begin_with(server, late_request, late, solution)
    assert status == 201, answer
