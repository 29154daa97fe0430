"""A report stored whose answer never reached the device (docs/protocol.md section 19,
"Lost answers"), against a real ``tipdrop serve`` (gunicorn, two workers) behind a proxy
that loses the answer to the finish after the server committed the report.

The device's retry of the finish under the same key gets the answer again
(tests/e2e/test_resumable_uploads.py); here the phone stays offline until the
upload, answer and all, is purged, so the retry finds nothing and the device
starts over with the same sealed bytes. The begin names their report digest and
the server says the report is stored: one report, and the device says so.
"""

import io
import secrets
import sqlite3
from contextlib import closing

import pytest

from tests.cutting_proxy import CuttingProxy
from tests.resumable import sealed_upload
from tests.serving import start_server
from tests.stored import tip_ids
from tipdrop.reporter.resumable import ReportStoredError, ResumableUpload

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env={"TIPDROP_SUBMITS_PER_HOUR": "1000"})
    yield running
    running.stop()


def _purged_while_offline(server, run_cli):
    """What a day or two offline does: the finished upload (and its kept answer) is purged."""

    def purge():
        with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db, db:
            db.execute("UPDATE uploads SET day = date('now', '-2 days')")
        assert "deleted 1 uploads" in run_cli("purge", env=server.env(), check=True).stdout

    return purge


def test_a_finish_whose_answer_is_lost_and_purged_stores_one_report_and_the_device_says_so(
        server, tmp_path, run_cli):
    # Given a report of two pieces, and a connection that loses the finish's answer
    # once the server has committed the report, while the upload is purged
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_500_000), "lost")
    proxy = CuttingProxy(server.port, "/api/v1/uploads/finish",
                         on_cut=_purged_while_offline(server, run_cli))
    reporter = ResumableUpload("127.0.0.1", proxy.port, request, pause=0.05)

    # When the reference client sends it
    with pytest.raises(ReportStoredError) as stored:
        reporter.send(io.BytesIO(body))

    # Then it lost exactly that answer, started over once, and was told the report is stored
    assert len(proxy.lost) == 1 and reporter.restarts == 1
    assert stored.value.answer["error"] == "ReportStoredError"
    assert "получено и сохранено" in stored.value.answer["message"]  # the default language
    # And exactly one report is stored, the one it sealed; no upload is left open
    assert tip_ids(server.data_dir) == [request["tip_id"]]
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM uploads").fetchone() == (0,)
    proxy.close()


def test_an_answer_cut_while_it_came_is_asked_for_again_and_gives_the_receipt(
        server, tmp_path):
    # Given a connection cut after the finish's head and a part of its body
    request, body = sealed_upload(server, tmp_path, secrets.token_bytes(1_200_000), "half")
    proxy = CuttingProxy(server.port, "/api/v1/uploads/finish", keep=300)
    reporter = ResumableUpload("127.0.0.1", proxy.port, request, pause=0.05)

    # When the reference client sends it, it asks again and gets the first answer's receipt
    answer = reporter.send(io.BytesIO(body))
    assert len(proxy.lost) == 1 and reporter.restarts == 0
    assert len(answer["receipt"]) == 29
    assert tip_ids(server.data_dir) == [request["tip_id"]]
    proxy.close()
