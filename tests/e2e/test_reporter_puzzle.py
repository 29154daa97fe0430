"""The reference client past a reached limit: it solves the anti-flood puzzle (docs/protocol.md
section 21) against a real ``tipdrop serve`` whose limits allow one request an hour.

Every request of these tests comes from 127.0.0.1, as every onion visitor's
does: once the hour's submit and check are spent, `tipdrop submit` and
`tipdrop check` (real processes) still get through by solving the server's
puzzles, and a resumable upload solves one for the request that begins it
and none for its pieces, even when the connection drops between them. A
server asking more work than the client does is refused with one clear line.
"""

import io
import json
import secrets

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.serving import start_server
from tests.stored import tip_count
from tipdrop.protocol import puzzle, uploads
from tipdrop.protocol.report import Report
from tipdrop.reporter import client
from tipdrop.reporter.resumable import ResumableUpload, write_body

pytestmark = pytest.mark.e2e

BITS = 8
LOW = {"TIPDROP_SUBMITS_PER_HOUR": "1", "TIPDROP_CHECKS_PER_HOUR": "1",
       "TIPDROP_PUZZLE_BITS": str(BITS)}


@pytest.fixture
def limited(tmp_path):
    running = start_server(tmp_path, extra_env=LOW)
    yield running
    running.stop()


def _tips(server):
    return tip_count(server.data_dir)


def _submit(run_cli, server, tmp_path, text):
    (tmp_path / "report.txt").write_text(text, encoding="utf-8")
    return run_cli("submit", "--server", f"http://127.0.0.1:{server.port}", "--region", "almaty",
                   "--category", "corruption", "--text-file", tmp_path / "report.txt")


def _receipt(sent):
    return next(line.split(": ", 1)[1] for line in sent.stdout.splitlines()
                if line.startswith("receipt: "))


def test_past_the_limit_tipdrop_submit_and_check_solve_the_puzzle(limited, run_cli, tmp_path):
    # Given the hour's submit spent by a first report
    first = _submit(run_cli, limited, tmp_path, "the first report of the hour")
    assert first.returncode == 0, first.stderr
    status, _, raw = limited.request("GET", "/api/v1/puzzle?for=submit")
    assert status == 200 and json.loads(raw)["limit_reached"] is True

    # When a second reporter behind the same address submits
    second = _submit(run_cli, limited, tmp_path, "the second report, past the limit")

    # Then the client solves the server's puzzles (the locator's and the upload's) and it arrives
    assert second.returncode == 0, second.stderr
    assert _tips(limited) == 2

    # And checks past the check limit (one an hour) get through the same way
    for sent in (first, second):
        checked = run_cli("check", "--server", f"http://127.0.0.1:{limited.port}",
                          input=_receipt(sent) + "\n")
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith("status: received")


def test_a_resumable_upload_solves_one_puzzle_for_its_begin_and_none_for_its_pieces(
        limited, tmp_path):
    # Given the hour's submit spent
    status, _, _ = limited.request("POST", "/api/v1/tips", json.dumps(
        {"region": "astana", "category": "theft", "description": "spent"}).encode(),
        {"Content-Type": "application/json"})
    assert status == 201
    # And a report with a file of three pieces, sealed here
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(2 * uploads.PIECE_BYTES + 1000))
    work = tmp_path / "seal"
    work.mkdir()
    report = Report.build(region="astana", category="other", description="past the limit")
    _, body, _ = client.seal_upload(report, [tmp_path / "clip.bin"],
                                    limited.unit_key.public.recipient, work)
    out = io.BytesIO()
    request = write_body(body.parts, out)
    upload = ResumableUpload("127.0.0.1", limited.port, request, pause=0.05)
    # And a connection that drops once, in the middle of the second piece
    sent_pieces = []
    call = upload._call

    def flaky(method, path, body=b"", headers=None):
        if method == "PUT":
            sent_pieces.append((path, (headers or {}).get(puzzle.SOLUTION_HEADER)))
            if path.endswith("/pieces/1") and len(sent_pieces) == 2:
                raise ConnectionResetError("cut")
        return call(method, path, body, headers)

    upload._call = flaky

    # When the upload is sent
    answer = upload.send(io.BytesIO(out.getvalue()), receipt_page=True)

    # Then one puzzle was solved, for the begin; the pieces carried no solution
    assert upload.puzzles_solved == 1
    assert upload.interruptions >= 1
    assert [path.rsplit("/", 1)[1] for path, _ in sent_pieces] == ["0", "1", "1", "2"]
    assert all(solution is None for _, solution in sent_pieces)
    # And exactly one report is stored
    assert answer["receipt"] and _tips(limited) == 2


def test_a_server_asking_more_work_than_the_client_does_is_refused_clearly(tmp_path, run_cli):
    server = start_server(tmp_path, extra_env=LOW | {"TIPDROP_PUZZLE_BITS": "32"})
    try:
        first = _submit(run_cli, server, tmp_path, "the hour's report")
        assert first.returncode == 0, first.stderr
        refused = _submit(run_cli, server, tmp_path, "past the limit, at 32 bits")
        assert_clean_error(refused, "anti-flood puzzle", "32 bits",
                           str(puzzle.CLIENT_MAX_DIFFICULTY))
        assert _tips(server) == 1
    finally:
        server.stop()
