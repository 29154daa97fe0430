"""A report whose answer was lost, sent again under a new upload key (docs/protocol.md
section 19, "Lost answers"): the begin names the report digest, and the server answers
409 ReportStoredError instead of making a second report or refusing it as a bad one.

In process, over a real database file; the cut connection of a real server is
tests/e2e/test_lost_answer.py.
"""

import datetime
import io
import secrets

import pytest

from tests.protocol.test_bundles import Server
from tipdrop.protocol import uploads as protocol
from tipdrop.protocol.report import Report
from tipdrop.reporter import client
from tipdrop.reporter.resumable import write_body
from tipdrop.server import lost_answers, sealed, uploads


@pytest.fixture
def server(tmp_path, demo_key, astana_key):
    running = Server(tmp_path / "server", demo_key, astana_key)
    yield running
    running.db.close()


@pytest.fixture
def sealed_report(tmp_path, demo_key):
    """The begin document (with its report digest) and the body of one sealed report."""
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(5000))
    work = tmp_path / "work"
    work.mkdir()
    report = Report.build(region="almaty", category="theft", description="Its answer got lost.")
    _, body, _ = client.seal_upload(report, [tmp_path / "clip.bin"], demo_key.public.recipient,
                                    work)
    out = io.BytesIO()
    request = write_body(body.parts, out)
    data = out.getvalue()
    request["report_digest"] = protocol.report_digest(
        request["tip_id"], [protocol.piece_digest(data)]).hex()
    return request, data


def _begin(server, key, request, counted=None):
    return uploads.begin(server.tips, key=key, doc=request, max_bytes=10**7, max_open=10,
                         idle_seconds=600, on_new=lambda: (counted or []).append(1))


def _store(server, request, data):
    key = secrets.token_hex(16)
    _begin(server, key, request)
    digest = protocol.piece_digest(data)
    uploads.put_piece(server.tips, key=key, index=0, digest=digest.hex(), data=data)
    answer, first = uploads.finish(server.tips, key=key,
                                   chain=protocol.chain(protocol.upload_id(key), [digest]).hex(),
                                   max_bytes=10**7,
                                   answer_for=lambda receipt: {"receipt": receipt.formatted})
    assert first
    return key, answer


def _counts(server):
    return (server.db.execute("SELECT COUNT(*) FROM tips").fetchone()[0],
            server.db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0])


def test_a_begin_naming_a_stored_report_is_told_it_is_stored_and_nothing_is_made(
        server, sealed_report):
    request, data = sealed_report
    _store(server, request, data)
    # Given the answer was lost and the device starts over under a new key
    counted = []
    with pytest.raises(lost_answers.ReportStoredError) as refused:
        _begin(server, secrets.token_hex(16), request, counted)
    # Then it is told the report is stored: 409, not a refusal of the report
    assert refused.value.http_status == 409
    # And no upload was begun, nothing counted against the reporter, no second report
    assert counted == [] and _counts(server) == (1, 1)


def test_without_a_report_digest_the_used_tip_id_is_refused_as_before(server, sealed_report):
    request, data = sealed_report
    _store(server, request, data)
    older = {name: value for name, value in request.items() if name != "report_digest"}
    with pytest.raises(sealed.SealedFormatError):
        _begin(server, secrets.token_hex(16), older)
    assert _counts(server) == (1, 1)


def test_the_digest_kept_is_the_servers_own_over_the_pieces_not_the_begins(
        server, sealed_report):
    request, data = sealed_report
    # A begin naming a digest that is not its report's...
    claimed = dict(request, report_digest=secrets.token_hex(32))
    _store(server, claimed, data)
    # ...keeps nothing under that claim: a begin naming it is not told "stored"
    with pytest.raises(sealed.SealedFormatError):
        _begin(server, secrets.token_hex(16), claimed)
    # while the true digest of the stored bytes is known
    with pytest.raises(lost_answers.ReportStoredError):
        _begin(server, secrets.token_hex(16), request)


def test_a_stored_report_is_forgotten_after_the_recent_days(server, sealed_report):
    request, data = sealed_report
    _store(server, request, data)
    kept = server.db.execute("SELECT expires_day FROM spent_forms").fetchall()
    today = datetime.date.fromisoformat(server.tips.clock())
    assert kept == [((today + datetime.timedelta(days=lost_answers.RECENT_DAYS)).isoformat(),)]
    server.tips.clock = lambda: (today + datetime.timedelta(days=lost_answers.RECENT_DAYS + 1)
                                 ).isoformat()
    # Past the window the tip id is simply used (400), as for any other begin
    with pytest.raises(sealed.SealedFormatError):
        _begin(server, secrets.token_hex(16), request)


def test_a_finish_of_an_upload_whose_report_was_stored_meanwhile_is_told_so(
        server, sealed_report):
    request, data = sealed_report
    # Given two uploads of the same sealed bytes, the second begun before the first stored
    late = secrets.token_hex(16)
    _begin(server, late, request)
    digest = protocol.piece_digest(data)
    uploads.put_piece(server.tips, key=late, index=0, digest=digest.hex(), data=data)
    _store(server, request, data)
    with pytest.raises(lost_answers.ReportStoredError):
        uploads.finish(server.tips, key=late,
                       chain=protocol.chain(protocol.upload_id(late), [digest]).hex(),
                       max_bytes=10**7, answer_for=lambda receipt: {})
    assert _counts(server) == (1, 1)


@pytest.mark.parametrize("digest", ["", "A" * 64, "0" * 63, 7, ["0" * 64]])
def test_a_report_digest_must_be_64_lower_case_hex_digits(server, sealed_report, digest):
    request, _ = sealed_report
    with pytest.raises(uploads.UploadRequestError):
        _begin(server, secrets.token_hex(16), dict(request, report_digest=digest))
