"""The reference client starts over when the server lost its upload (docs/protocol.md section 19,
"Starting over"), against a real ``tipdrop serve`` (gunicorn, two workers) whose
TIPDROP_UPLOAD_LIFETIME_SECONDS is short.

A device that stalls past the lifetime has its upload swept by the server
(409 UploadSweptError): it begins a new upload, under a new key, sends the
same sealed bytes from the first, and its report is stored exactly once,
with the whole file. So does one whose server was restarted (killed) mid-way,
and gave the upload's place to another meanwhile. A server that sweeps every
upload is given up after ``MAX_RESTARTS`` new ones. The same sealed bytes never make a second report,
and a refusal of the report itself does not start over.
"""

import io
import secrets
import sqlite3
import time
from contextlib import closing

import pytest

from tests.resumable import officer_reads, post_json, resumable, sealed_upload
from tests.serving import start_server
from tests.stored import tip_ids
from tipdrop.protocol import uploads
from tipdrop.reporter.resumable import (
    MAX_RESTARTS,
    ReportStoredError,
    UploadRefusedError,
    UploadStartedOverError,
)

pytestmark = pytest.mark.e2e

LIFETIME = 3  # seconds, TIPDROP_UPLOAD_LIFETIME_SECONDS (the idle time stays 600)
IDLE = 2  # seconds, TIPDROP_UPLOAD_IDLE_SECONDS for the restarted server


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env={
        "TIPDROP_SUBMITS_PER_HOUR": "1000", "TIPDROP_MAX_UPLOAD_MB": "8",
        "TIPDROP_UPLOAD_LIFETIME_SECONDS": str(LIFETIME)})
    yield running
    running.stop()


@pytest.fixture
def one_place(tmp_path):
    """A server with one open upload at a time, idle after IDLE seconds."""
    running = start_server(tmp_path, extra_env={
        "TIPDROP_SUBMITS_PER_HOUR": "1000", "TIPDROP_MAX_UPLOAD_MB": "8",
        "TIPDROP_OPEN_UPLOADS": "1", "TIPDROP_UPLOAD_IDLE_SECONDS": str(IDLE)})
    yield running
    running.stop()


def _uploads(server):
    """[(state, pieces)] of every upload the server holds."""
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return db.execute("SELECT state, pieces FROM uploads ORDER BY rowid").fetchall()


class _Stalling(io.BytesIO):
    """The sealed body, whose piece 1 is read only after a stall past the upload's lifetime
    (the first ``stalls`` times it is read), or after ``meanwhile()`` ran."""

    def __init__(self, data, stalls=1, meanwhile=None):
        super().__init__(data)
        self.stalls = stalls
        self.meanwhile = meanwhile or (lambda: time.sleep(LIFETIME + 1.2))
        # The client reads the body once before its begin, for the report digest.
        self.digested = False

    def read(self, size=-1):
        if self.tell() == uploads.PIECE_BYTES and not self.digested:
            self.digested = True
        elif self.tell() == uploads.PIECE_BYTES and self.stalls:
            self.stalls -= 1
            self.meanwhile()
        return super().read(size)


def test_an_upload_swept_mid_way_starts_over_and_the_report_is_stored_once_whole(
        server, tmp_path, run_cli):
    # Given a report with a file of three pieces, sealed once
    evidence = secrets.token_bytes(2_500_000)
    request, body = sealed_upload(server, tmp_path, evidence, "swept and sent again")
    reporter = resumable(server, request)
    first_key = reporter.key

    # When the device stalls after piece 0 past the upload's lifetime (the server sweeps it)
    answer = reporter.send(_Stalling(body, stalls=1))

    # Then it began one new upload, under a new key, and the report is stored exactly once
    assert reporter.restarts == 1 and reporter.key != first_key
    assert len(answer["receipt"]) == 29
    [tip_id] = tip_ids(server.data_dir)
    assert tip_id == request["tip_id"]  # the same sealed bytes, not sealed again
    assert _uploads(server) == [("done", 3)]
    # And the officer decrypts the very bytes of the file, whole
    _, saved = officer_reads(run_cli, server, tmp_path, tip_id)
    assert saved == evidence


def test_a_server_that_sweeps_every_upload_is_given_up_after_the_limit(server, tmp_path):
    # Given a device that stalls past the lifetime every time it reaches piece 1
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_500_000), "never")
    reporter = resumable(server, request)

    # When it sends the report, it starts over MAX_RESTARTS times, then gives up
    with pytest.raises(UploadStartedOverError) as refused:
        reporter.send(_Stalling(body, stalls=MAX_RESTARTS + 5))

    # Then the last refusal is the server's sweep, and nothing was stored or left behind
    assert (refused.value.status, refused.value.answer["error"]) == (409, "UploadSweptError")
    assert reporter.restarts == MAX_RESTARTS == 2
    assert tip_ids(server.data_dir) == [] and _uploads(server) == []


def test_the_same_sealed_bytes_under_a_new_upload_never_make_a_second_report(server, tmp_path):
    # Given a report stored by one upload
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_200_000), "once")
    assert len(resumable(server, request).send(io.BytesIO(body))["receipt"]) == 29

    # When the same sealed bytes come again under a new upload (a device that took its
    # stored upload for a lost one), its begin is told the report is stored (its report
    # digest names it: docs/protocol.md section 19, "Lost answers")
    again = resumable(server, request)
    with pytest.raises(ReportStoredError) as stored:
        again.send(io.BytesIO(body))

    # Then there is still one report, and the device did not start over
    assert stored.value.answer["error"] == "ReportStoredError"
    assert again.restarts == 0
    assert tip_ids(server.data_dir) == [request["tip_id"]]


def test_a_refusal_of_the_report_itself_does_not_start_over(server, tmp_path):
    # Given sealed parts that are not what they claim (the report's envelope, the first
    # part, does not begin as an envelope does)
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_200_000), "damaged")
    assert request["parts"][0][0] == "tip"
    damaged = bytearray(body)
    damaged[0] ^= 0xFF
    reporter = resumable(server, request)

    # When it is sent, the finish refuses it (400): that is final
    with pytest.raises(UploadRefusedError) as refused:
        reporter.send(io.BytesIO(bytes(damaged)))

    assert refused.value.status == 400 and reporter.restarts == 0
    assert tip_ids(server.data_dir) == [] and _uploads(server) == []


def test_an_upload_lost_to_a_server_restart_starts_over_and_is_stored_once(
        one_place, tmp_path):
    server = one_place
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_500_000), "restarted")
    reporter = resumable(server, request)

    def restarted_and_crowded_out():
        # The server is killed and started again: it no longer knows when the reporter's
        # upload last moved, so it counts as idle, and another begin takes its one place
        # (deleting it); then that one goes idle too
        server.kill()
        server.start()
        other, _ = sealed_upload(server, tmp_path, b"took the place")
        assert post_json(server, "/api/v1/uploads", other, secrets.token_hex(16))[0] == 201
        time.sleep(IDLE + 1.2)

    # When the device comes back, its next piece is answered 404: it starts over
    answer = reporter.send(_Stalling(body, meanwhile=restarted_and_crowded_out))

    # Then its report is stored exactly once, by one new upload
    assert reporter.restarts == 1 and len(answer["receipt"]) == 29
    assert tip_ids(server.data_dir) == [request["tip_id"]]
    assert _uploads(server) == [("done", 2)]
