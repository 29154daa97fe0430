"""Finishing a resumable upload (tipdrop/server/uploads.py) twice at once, in process.

Two connections to one real database file, as two gunicorn workers have:
the second finish runs to its end while the first one is under way (from
the first one's clock, which storing calls, or its upload slot, entered
before the pieces are read). Both answer the one report; a finish naming a
wrong chain meanwhile deletes nothing and is told the report is being
stored. The crash of a real server between storing and answering is
tests/e2e/test_upload_finish_crash.py. Also: an older database's unfinished
upload gets its lifetime (docs/protocol.md section 19, "Lifetime").
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
from tipdrop.server import store, uploads
from tipdrop.server.store import blobs


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


def test_an_older_databases_unfinished_upload_gets_its_lifetime_from_its_last_move(
        server, tmp_path, demo_key):
    # Given a version-11 database (no began) holding an unfinished upload last moved at 5000
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(1_500_000))
    work = tmp_path / "older"
    work.mkdir()
    report = Report.build(region="almaty", category="theft", description="Begun before.")
    _, body, _ = client.seal_upload(report, [tmp_path / "clip.bin"], demo_key.public.recipient,
                                    work)
    out = io.BytesIO()
    request = write_body(body.parts, out)
    key = secrets.token_hex(16)
    uploads.begin(server.tips, key=key, doc=request, max_bytes=10**7, max_open=10,
                  idle_seconds=600, now=lambda: 1000)
    server.db.execute("ALTER TABLE uploads DROP COLUMN began")
    server.db.execute("UPDATE uploads SET touched = 5000")
    server.db.execute("UPDATE meta SET value = '11' WHERE key = 'schema_version'")
    # When this version opens it
    store.init(server.db)
    # Then its lifetime counts from then: a piece within it is taken, one after it sweeps it
    piece = out.getvalue()[:protocol.PIECE_BYTES]
    digest = protocol.piece_digest(piece).hex()
    assert uploads.put_piece(server.tips, key=key, index=0, digest=digest, data=piece,
                             lifetime_seconds=100, now=lambda: 5099) == 1
    with pytest.raises(blobs.UploadSweptError):
        uploads.put_piece(server.tips, key=key, index=1, digest=digest, data=piece,
                          lifetime_seconds=100, now=lambda: 5100)
    assert server.db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0] == 0
