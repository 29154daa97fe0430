"""Past a limit, a puzzle instead of a flat refusal: a real ``tipdrop serve`` (docs/protocol.md section 21).

Every onion visitor arrives from 127.0.0.1, as every request of these tests
does. With one submit an hour allowed, the second one is over the limit: a
client that solves puzzles (the API, a page's script) gets a challenge, a
form sent without JavaScript the 429 page in its language. A valid solution
passes the limit once; a wrong nonce, an expired challenge, one easier than
the server asks for, one not signed by the server, one for another limit
and a solution sent again are refused, and nothing is stored for them.
"""

import base64
import json
import re
import secrets
import time

import pytest

from tests.clear_errors import ERROR_PARAGRAPH, PAGE_LANGUAGE, known_messages
from tests.serving import multipart, start_server
from tests.stored import tip_count
from tipdrop.crypto import puzzle as primitives
from tipdrop.protocol import device, documents, puzzle, uploads

pytestmark = [pytest.mark.e2e]

BITS = 8
JSON = {"Content-Type": "application/json"}
REPORT = {"region": "astana", "category": "theft", "description": "A bicycle was stolen."}
SCRIPT = {"Tipdrop-Puzzle": "accept"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("puzzle"), extra_env={
        "TIPDROP_SUBMITS_PER_HOUR": "1", "TIPDROP_CHECKS_PER_HOUR": "1",
        "TIPDROP_PUZZLE_BITS": str(BITS)})
    # Given the one submit the hour allows, spent
    status, _, _ = _submit_json(running)
    assert status == 201
    yield running
    running.stop()


def _secret(server):
    return (server.data_dir / "token-secret").read_bytes()


def _tips(server):
    return tip_count(server.data_dir)


def _submit_json(server, headers=None):
    status, answer, body = server.request("POST", "/api/v1/tips", json.dumps(REPORT).encode(),
                                          JSON | (headers or {}))
    return status, answer, json.loads(body)


def _challenge(server, answer):
    """The challenge of a 429 answer, read back with the server's secret (its MAC checked)."""
    offered = answer["puzzle"]
    assert offered["algorithm"] == "tipdrop/v1/puzzle"
    challenge = puzzle.read(_secret(server), offered["challenge"])
    assert challenge.difficulty == offered["difficulty"] == BITS
    assert 0 < offered["expires_in"] <= 660
    return challenge


def _solved(server, purpose="submit"):
    """A fresh solution, from the probe the pages' script asks first."""
    status, _, body = server.request("GET", f"/api/v1/puzzle?for={purpose}")
    assert status == 200
    probe = json.loads(body)
    assert probe["limit_reached"] is True
    return puzzle.solve(_challenge(server, probe))


def _solution_header(text):
    return {"Tipdrop-Puzzle-Solution": text}


def test_over_the_limit_an_app_gets_a_challenge_to_solve(server):
    stored = _tips(server)
    status, headers, answer = _submit_json(server)
    assert status == 429 and headers["Retry-After"] == "30"
    assert answer["error"] == "RateLimitedError"
    assert _challenge(server, answer).purpose == "submit"
    assert _tips(server) == stored


def test_over_the_limit_the_submit_page_script_gets_a_challenge(server):
    token = server.form_token("/submit")
    content_type, body = multipart({"token": token, **REPORT})
    status, headers, data = server.request(
        "POST", "/submit?lang=ru", body, {"Content-Type": content_type} | SCRIPT, follow=False)
    assert status == 429 and headers["Content-Type"] == "application/json"
    assert _challenge(server, json.loads(data)).purpose == "submit"


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_a_form_sent_without_javascript_gets_the_429_page_in_its_language(server, lang):
    token = server.form_token(f"/submit?lang={lang}")
    content_type, body = multipart({"token": token, **REPORT})
    status, headers, page = server.request("POST", f"/submit?lang={lang}", body,
                                           {"Content-Type": content_type}, follow=False)
    assert status == 429 and headers["Content-Type"].startswith("text/html")
    assert PAGE_LANGUAGE.search(page).group(1).decode() == lang
    message = ERROR_PARAGRAPH.search(page).group(1).decode()
    assert message in known_messages(lang)
    # The form again, with the report in it (submit_again.py), and no challenge to solve:
    # a page without JavaScript cannot solve one.
    assert b'id="report-form"' in page and b"A bicycle was stolen." in page
    assert b"tipdrop/v1/puzzle" not in page and b"challenge" not in page.lower()


def test_a_valid_solution_passes_the_limit_once(server):
    stored = _tips(server)
    solution = _solved(server)
    # When the app sends the report again with the solution
    status, _, answer = _submit_json(server, _solution_header(solution))
    # Then it is stored
    assert status == 201 and answer["receipt"]
    assert _tips(server) == stored + 1
    # And the same solution sent again is refused, with a new challenge to solve
    status, _, answer = _submit_json(server, _solution_header(solution))
    assert status == 429 and answer["error"] == "PuzzleSpentError"
    assert _challenge(server, answer).text != solution.split(".")[0]
    assert _tips(server) == stored + 1


def _wrong_nonce(server):
    challenge = puzzle.read(_secret(server), _solved(server).split(".")[0])
    nonce = 0
    while primitives.solves(challenge.token, nonce.to_bytes(8, "big"), BITS):
        nonce += 1
    return challenge.solution(nonce.to_bytes(8, "big"))


def _signed(server, *, difficulty=BITS, expires=None, purpose="submit", secret=None):
    """A challenge made with the server's own key (or ``secret``), solved."""
    expires = expires if expires is not None else int(time.time()) + 600
    challenge = puzzle.make(secret or _secret(server), purpose=purpose, difficulty=difficulty,
                            expires=expires)
    return puzzle.solve(challenge)


def _forged_mac(server):
    text, nonce = _solved(server).split(".")
    token = bytearray(puzzle.read(_secret(server), text).token)
    token[-1] ^= 1  # the MAC's last byte
    return base64.urlsafe_b64encode(bytes(token)).decode().rstrip("=") + "." + nonce


REFUSED = {
    "wrong nonce": (_wrong_nonce, "PuzzleInvalidError"),
    "expired": (lambda s: _signed(s, expires=int(time.time()) - 60), "PuzzleExpiredError"),
    "another difficulty": (lambda s: _signed(s, difficulty=BITS - 1), "PuzzleTooEasyError"),
    "forged MAC": (_forged_mac, "PuzzleInvalidError"),
    "another server's key": (lambda s: _signed(s, secret=bytes(range(32))), "PuzzleInvalidError"),
    "for another limit": (lambda s: _signed(s, purpose="check"), "PuzzleInvalidError"),
    "not a solution": (lambda s: "AAAA.0000000000000000", "PuzzleInvalidError"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_solution_is_refused_and_nothing_is_stored(server, case):
    make, error = REFUSED[case]
    stored = _tips(server)
    status, headers, answer = _submit_json(server, _solution_header(make(server)))
    assert status == 429 and headers["Retry-After"] == "30"
    assert answer["error"] == error
    # With a challenge the client can solve at once
    assert _challenge(server, answer).purpose == "submit"
    assert _tips(server) == stored


def test_a_harder_challenge_than_asked_is_accepted(server):
    status, _, _ = _submit_json(server, _solution_header(_signed(server, difficulty=BITS + 2)))
    assert status == 201


def test_a_solution_passes_a_device_sealed_submit_of_the_page(server):
    recipient = server.unit_key.public.recipient
    tip_id = device.new_tip_id()
    report = documents.report_document(tip_id=tip_id, region="astana", category="theft",
                                       description="sealed on the device", parts=[])
    content_type, body = multipart({"region": "astana", "category": "theft", "tip_id": tip_id},
                                   [("tip", "tip", "application/octet-stream",
                                     device.seal_report(report, recipient, tip_id))])
    path = "/api/v1/sealed-tips?receipt_page=yes&lang=kk"
    status, _, answer = server.request("POST", path, body, {"Content-Type": content_type} | SCRIPT)
    assert status == 429
    solution = puzzle.solve(_challenge(server, json.loads(answer)))
    status, _, answer = server.request("POST", path, body, {"Content-Type": content_type} | SCRIPT
                                       | _solution_header(solution))
    assert status == 201, answer
    assert json.loads(answer)["receipt_page"].startswith("/receipt/")


def test_a_solution_admits_one_resumable_upload_whose_pieces_and_resumption_need_none(server):
    """Only the begin of a new upload is limited (docs/protocol.md section 21, "Resumable uploads")."""
    recipient = server.unit_key.public.recipient
    tip_id = device.new_tip_id()
    report = documents.report_document(tip_id=tip_id, region="astana", category="theft",
                                       description="sealed, sent in pieces", parts=[])
    sealed = device.seal_report(report, recipient, tip_id)
    doc = {"region": "astana", "category": "theft", "tip_id": tip_id,
           "parts": [["tip", len(sealed)]]}
    key = secrets.token_hex(16)

    def begin(key, headers=None):
        status, _, raw = server.request("POST", "/api/v1/uploads", json.dumps(doc).encode(),
                                        JSON | {"Idempotency-Key": key} | (headers or {}))
        return status, json.loads(raw)

    stored = _tips(server)
    # Past the limit, the begin of a new upload gets a puzzle and no upload is made
    status, answer = begin(key)
    assert status == 429 and answer["error"] == "RateLimitedError"
    solution = puzzle.solve(_challenge(server, answer))
    # With the solution it is admitted
    status, answer = begin(key, _solution_header(solution))
    assert (status, answer["received"]) == (201, 0)
    # Asked again to resume, with no solution, it is not limited
    status, answer = begin(key)
    assert (status, answer["received"]) == (200, 0)
    # Nor is its piece, nor its finish
    status, _, raw = server.request("PUT", "/api/v1/uploads/pieces/0", sealed, {
        "Content-Type": "application/octet-stream", "Idempotency-Key": key,
        "Piece-Digest": uploads.piece_digest(sealed).hex()})
    assert status == 200, raw
    chain = uploads.chain(uploads.upload_id(key), [uploads.piece_digest(sealed)])
    status, _, raw = server.request("POST", "/api/v1/uploads/finish",
                                    json.dumps({"chain": chain.hex()}).encode(),
                                    JSON | {"Idempotency-Key": key})
    assert status == 201, raw
    assert _tips(server) == stored + 1
    # And the same solution does not admit a second upload
    status, answer = begin(secrets.token_hex(16), _solution_header(solution))
    assert status == 429 and answer["error"] == "PuzzleSpentError" and answer["puzzle"]
    assert _tips(server) == stored + 1


def test_a_solution_passes_a_server_sealed_submit_of_the_page(server):
    token = server.form_token("/submit?lang=kk")
    content_type, body = multipart({"token": token, **REPORT},
                                   [("files", "a.bin", "application/octet-stream",
                                     b"x" * 5000)])
    headers = {"Content-Type": content_type} | SCRIPT | _solution_header(_solved(server))
    status, answer, _ = server.request("POST", "/submit?lang=kk", body, headers, follow=False)
    assert status == 303 and "/receipt/" in answer["Location"]


def test_the_probe_says_whether_a_limit_is_reached_and_counts_nothing(server):
    # The check limit (one an hour) is untouched: the probe says so, as often as asked
    for _ in range(3):
        status, _, body = server.request("GET", "/api/v1/puzzle?for=check")
        assert status == 200 and json.loads(body) == {"limit_reached": False, "puzzle": None}
    status, _, body = server.request("GET", "/api/v1/puzzle?for=upload")
    assert status == 400


def test_nothing_about_a_puzzle_reaches_the_log(server):
    solution = _solved(server)
    _submit_json(server, _solution_header(solution))
    _submit_json(server, _solution_header(solution))
    log = server.log_path.read_text(errors="replace")
    text, nonce = solution.split(".")
    assert text not in log and nonce not in log
    assert not re.search(r"(?i)puzzle|challenge", log)
