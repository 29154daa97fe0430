"""Finishing a resumable upload (tipdrop/server/uploads.py) twice at once, in process.

Two connections to one real database file, as two gunicorn workers have:
the second finish runs to its end while the first one is under way (from
the first one's clock, which storing calls, or its upload slot, entered
before the pieces are read). Both answer the one report; a finish naming a
wrong chain meanwhile deletes nothing and is told the report is being
stored. The crash of a real server between storing and answering is
tests/e2e/test_upload_finish_crash.py. Also: an upload's lifetime is counted
in RAM, from its begin or, after a restart, from the first request of it the
server sees (docs/protocol.md section 19, "Lifetime").
"""

import copy
import io
import secrets
from contextlib import contextmanager

import pytest

from tests.protocol.test_bundles import Server
from tipdrop.common import sqlite
from tipdrop.protocol import uploads as protocol
from tipdrop.protocol.report import Report
from tipdrop.reporter import client
from tipdrop.reporter.resumable import write_body
from tipdrop.server import uploads
from tipdrop.server.store import blobs
from tipdrop.server.upload_moves import UploadMoves
from tipdrop.server.web.limits import BusyError, Slots


@pytest.fixture
def server(tmp_path, demo_key, astana_key):
    running = Server(tmp_path / "server", demo_key, astana_key)
    yield running
    running.db.close()


def _all_pieces_sent(server, tmp_path, demo_key):
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(5000))
    work = tmp_path / "work"
    work.mkdir()
    report = Report.build(region="almaty", category="theft", description="Two finishes at once.")
    _, body, _ = client.seal_upload(report, [tmp_path / "clip.bin"], demo_key.public.recipient,
                                    work)
    out = io.BytesIO()
    request = write_body(body.parts, out)
    data = out.getvalue()
    key = secrets.token_hex(16)
    uploads.begin(server.tips, key=key, doc=request, max_bytes=10**7, max_open=10,
                  idle_seconds=600)
    digest = protocol.piece_digest(data)
    uploads.put_piece(server.tips, key=key, index=0, digest=digest.hex(), data=data)
    return key, protocol.chain(protocol.upload_id(key), [digest]).hex()


def _answer(receipt):
    return {"receipt": receipt.formatted}


def test_two_finishes_at_once_store_one_report_and_give_both_its_answer(
        server, tmp_path, demo_key):
    key, chain = _all_pieces_sent(server, tmp_path, demo_key)
    other = copy.copy(server.tips)
    other.db = sqlite.connect(sqlite.path_of(server.db))
    first = copy.copy(server.tips)
    overtaken = []

    def clock():
        if not overtaken:  # the other request's finish runs to its end meanwhile
            overtaken.append(uploads.finish(other, key=key, chain=chain, max_bytes=10**7,
                                            answer_for=_answer))
        return server.tips.clock()

    first.clock = clock
    answer = uploads.finish(first, key=key, chain=chain, max_bytes=10**7, answer_for=_answer)

    [(stored, was_first)] = overtaken
    assert was_first and len(stored["receipt"]) == 29
    assert answer == (stored, False)
    assert server.db.execute("SELECT COUNT(*) FROM tips").fetchone()[0] == 1
    assert server.db.execute("SELECT state FROM uploads").fetchall() == [("done",)]
    other.db.close()


def _other_connection(server):
    other = copy.copy(server.tips)
    other.db = sqlite.connect(sqlite.path_of(server.db))
    return other


@pytest.mark.parametrize("moment", ["before its pieces are read", "while it stores the report"])
def test_a_finish_with_a_wrong_chain_during_a_right_one_is_refused_busy_and_the_report_stored(
        server, tmp_path, demo_key, moment):
    # Given an upload with every piece, and a right finish under way on one connection
    key, chain = _all_pieces_sent(server, tmp_path, demo_key)
    other = _other_connection(server)
    first = copy.copy(server.tips)
    wrong = []

    def the_wrong_finish_comes():
        if not wrong:  # another request, on another connection, names another chain
            try:
                uploads.finish(other, key=key, chain="00" * 32, max_bytes=10**7,
                               answer_for=_answer)
            except Exception as refused:  # noqa: BLE001 (what it was is asserted below)
                wrong.append(refused)
            else:
                wrong.append(None)

    @contextmanager
    def admit(total):
        if moment == "before its pieces are read":
            the_wrong_finish_comes()
        yield

    def clock():
        if moment == "while it stores the report":
            the_wrong_finish_comes()
        return server.tips.clock()

    first.clock = clock
    answer, was_first = uploads.finish(first, key=key, chain=chain, max_bytes=10**7,
                                       answer_for=_answer, admit=admit)

    # Then the right one stores the report; the wrong one was told it is being stored
    assert was_first and len(answer["receipt"]) == 29
    assert server.db.execute("SELECT COUNT(*) FROM tips").fetchone()[0] == 1
    assert [type(refused) for refused in wrong] == [uploads.UploadBusyError]
    # ...and, asked again once it is stored, gets the report's answer, not a second report
    assert uploads.finish(other, key=key, chain="00" * 32, max_bytes=10**7,
                          answer_for=_answer) == (answer, False)
    other.db.close()


def test_a_finish_with_a_wrong_chain_alone_deletes_the_upload(server, tmp_path, demo_key):
    key, chain = _all_pieces_sent(server, tmp_path, demo_key)

    with pytest.raises(uploads.ChainMismatchError):
        uploads.finish(server.tips, key=key, chain="00" * 32, max_bytes=10**7,
                       answer_for=_answer)

    assert server.db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0] == 0
    with pytest.raises(uploads.UploadNotFoundError):
        uploads.finish(server.tips, key=key, chain=chain, max_bytes=10**7, answer_for=_answer)


def test_a_finish_refused_busy_keeps_the_upload_and_a_retry_stores_the_report(
        server, tmp_path, demo_key):
    # Given an upload with every piece, and every Argon2 slot busy (real
    # slots, as the web app gives the tips: a server flooded with checks)
    key, chain = _all_pieces_sent(server, tmp_path, demo_key)
    busy = copy.copy(server.tips)
    busy.argon2_slot = Slots(1, wait=0)
    with busy.argon2_slot():
        # When its finish needs a slot for the receipt
        with pytest.raises(BusyError):
            uploads.finish(busy, key=key, chain=chain, max_bytes=10**7, answer_for=_answer)
    # Then the pieces are kept (a 503 asks the device to try again): on the
    # code before they were deleted, and the reporter had to send it all again
    assert server.db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0] == 1
    assert server.db.execute("SELECT COUNT(*) FROM tips").fetchone()[0] == 0
    # ... and once a slot is free, the retry stores the report
    answer, first = uploads.finish(busy, key=key, chain=chain, max_bytes=10**7,
                                   answer_for=_answer)
    assert first and len(answer["receipt"]) == 29
    assert server.db.execute("SELECT COUNT(*) FROM tips").fetchone()[0] == 1


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _three_piece_upload(server, tmp_path, demo_key):
    """(key, pieces) of a begun-later resumable upload of three pieces."""
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(2 * protocol.PIECE_BYTES + 1000))
    work = tmp_path / "three"
    work.mkdir()
    report = Report.build(region="almaty", category="theft", description="In three pieces.")
    _, body, _ = client.seal_upload(report, [tmp_path / "clip.bin"], demo_key.public.recipient,
                                    work)
    out = io.BytesIO()
    request = write_body(body.parts, out)
    data = out.getvalue()
    pieces = [data[start:start + protocol.PIECE_BYTES]
              for start in range(0, len(data), protocol.PIECE_BYTES)]
    return secrets.token_hex(16), request, pieces


def _put(server, key, pieces, index, moves, lifetime=100):
    return uploads.put_piece(server.tips, key=key, index=index,
                             digest=protocol.piece_digest(pieces[index]).hex(),
                             data=pieces[index], lifetime_seconds=lifetime, moves=moves)


def test_an_uploads_lifetime_is_counted_in_ram_from_its_begin_and_its_time_is_never_stored(
        server, tmp_path, demo_key):
    key, request, pieces = _three_piece_upload(server, tmp_path, demo_key)
    clock = _Clock()
    moves = UploadMoves(clock=clock)
    # Given an upload begun at 1000 with a lifetime of 100 seconds
    uploads.begin(server.tips, key=key, doc=request, max_bytes=10**7, max_open=10,
                  idle_seconds=600, lifetime_seconds=100, moves=moves)
    # Then its row holds no time of day (the moments are in RAM: upload_moves.py)
    columns = set(server.db["uploads"].columns_dict)
    assert not {"touched", "began"} & columns, columns
    # And a piece within its lifetime is taken, however late in it
    clock.now = 1099
    assert _put(server, key, pieces, 0, moves) == 1
    # And one at its end deletes the upload, which is refused as swept
    clock.now = 1100
    with pytest.raises(blobs.UploadSweptError):
        _put(server, key, pieces, 1, moves)
    assert server.db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0] == 0


def test_after_a_restart_an_uploads_lifetime_counts_from_its_first_request_seen(
        server, tmp_path, demo_key):
    key, request, pieces = _three_piece_upload(server, tmp_path, demo_key)
    clock = _Clock()
    uploads.begin(server.tips, key=key, doc=request, max_bytes=10**7, max_open=10,
                  idle_seconds=600, lifetime_seconds=100, moves=UploadMoves(clock=clock))
    # Given a server restarted long after the upload began (its RAM moments gone)
    restarted = UploadMoves(clock=clock)
    clock.now = 5000
    # Then its next piece is taken, and its lifetime counts from then
    assert _put(server, key, pieces, 0, restarted) == 1
    clock.now = 5099
    assert _put(server, key, pieces, 1, restarted) == 2
    clock.now = 5100
    with pytest.raises(blobs.UploadSweptError):
        _put(server, key, pieces, 2, restarted)
