"""Proof-of-work challenges (docs/protocol.md section 21): known answers, round trip, tampering."""

import base64
import json
from pathlib import Path

import pytest

from tipdrop.crypto import canonical
from tipdrop.crypto import puzzle as primitives
from tipdrop.protocol import puzzle

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "puzzle.json")
                     .read_text(encoding="utf-8"))
SECRET = bytes.fromhex(VECTORS["token_secret"])
OTHER_SECRET = bytes(range(32))


def _challenge(**changes):
    values = {"purpose": "submit", "difficulty": 8, "expires": 1714558200} | changes
    return puzzle._make_with_id(SECRET, values["purpose"], values["difficulty"],
                                values["expires"], bytes(16))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["purpose"])
def test_challenges_are_made_as_the_vector_says(vector):
    made = puzzle._make_with_id(SECRET, vector["purpose"], vector["difficulty"], vector["expires"],
                                bytes.fromhex(vector["id"]))
    assert primitives.day_key(SECRET, vector["day"]).hex() == vector["day_key"]
    assert made.token.hex() == vector["token"]
    assert made.text == vector["challenge"]
    assert made.token[:puzzle.HEADER.size].hex() == vector["header"]
    assert canonical.encode(primitives.MAC_LABEL, bytes.fromhex(vector["header"])).hex() == (
        vector["mac_input"])


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["purpose"])
def test_the_vector_solution_is_the_first_nonce_that_solves_it(vector):
    challenge, nonce = puzzle.read_solution(SECRET, vector["solution"])
    assert (challenge.purpose, challenge.difficulty, challenge.expires) == (
        vector["purpose"], vector["difficulty"], vector["expires"])
    assert primitives.work(challenge.token, nonce).hex() == vector["work"]
    assert primitives.zero_bits(bytes.fromhex(vector["work"])) == vector["zero_bits"]
    assert vector["zero_bits"] >= vector["difficulty"]
    assert puzzle.solve(challenge) == vector["solution"]
    puzzle.check(challenge, nonce, purpose=vector["purpose"], now=vector["expires"] - 1,
                 least_difficulty=vector["difficulty"])
    wrong = vector["not_a_solution"]
    if wrong is not None:
        assert wrong["zero_bits"] < vector["difficulty"]
        with pytest.raises(puzzle.PuzzleInvalidError):
            puzzle.check(challenge, bytes.fromhex(wrong["nonce"]), purpose=vector["purpose"],
                         now=vector["expires"] - 1, least_difficulty=vector["difficulty"])


def test_a_challenge_reads_back_as_made():
    made = puzzle.make(SECRET, purpose="followup", difficulty=10, expires=1714558200)
    read = puzzle.read(SECRET, made.text)
    assert read == made
    assert len(made.text) == puzzle.CHALLENGE_CHARS == 79


def test_challenges_have_random_ids():
    ids = {puzzle.make(SECRET, purpose="submit", difficulty=1, expires=60).id for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize("position", range(puzzle.TOKEN_LEN))
def test_any_changed_byte_of_a_token_is_refused(position):
    token = bytearray(_challenge().token)
    token[position] ^= 0x01
    text = base64.urlsafe_b64encode(bytes(token)).decode().rstrip("=")
    with pytest.raises(puzzle.PuzzleInvalidError):
        puzzle.read(SECRET, text)


def test_a_token_made_with_another_secret_is_refused():
    forged = puzzle._make_with_id(OTHER_SECRET, "submit", 1, 1714558200, bytes(16))
    with pytest.raises(puzzle.PuzzleInvalidError):
        puzzle.read(SECRET, forged.text)


def test_the_key_changes_with_the_day_of_the_expiry():
    assert primitives.day_key(SECRET, 19844) != primitives.day_key(SECRET, 19845)
    made = _challenge(expires=19845 * 86400)
    # The same header under the previous day's key is not this server's challenge.
    header = made.token[:puzzle.HEADER.size]
    moved = header + primitives.mac(primitives.day_key(SECRET, 19844), header)
    with pytest.raises(puzzle.PuzzleInvalidError):
        puzzle.read(SECRET, base64.urlsafe_b64encode(moved).decode().rstrip("="))


@pytest.mark.parametrize("text", [
    "", "x" * puzzle.CHALLENGE_CHARS, "=" * puzzle.CHALLENGE_CHARS, None, 5,
    base64.urlsafe_b64encode(bytes(puzzle.TOKEN_LEN)).decode().rstrip("="),
])
def test_what_is_not_a_challenge_is_refused(text):
    with pytest.raises(puzzle.PuzzleInvalidError):
        puzzle.read(SECRET, text)


@pytest.mark.parametrize("suffix", ["", ".", ".00", ".0000000000000000x", ".000000000000000G",
                                    ".AAAAAAAAAAAAAAAA", " .0000000000000000"])
def test_what_is_not_a_solution_is_refused(suffix):
    with pytest.raises(puzzle.PuzzleInvalidError):
        puzzle.read_solution(SECRET, _challenge().text + suffix)


def test_a_solution_is_checked_for_purpose_expiry_difficulty_and_work():
    challenge = _challenge(difficulty=8)
    _, nonce = puzzle.read_solution(SECRET, puzzle.solve(challenge))
    ok = {"purpose": "submit", "now": challenge.expires - 1, "least_difficulty": 8}
    puzzle.check(challenge, nonce, **ok)
    with pytest.raises(puzzle.PuzzleInvalidError):
        puzzle.check(challenge, nonce, **ok | {"purpose": "check"})
    with pytest.raises(puzzle.PuzzleExpiredError):
        puzzle.check(challenge, nonce, **ok | {"now": challenge.expires})
    with pytest.raises(puzzle.PuzzleTooEasyError):
        puzzle.check(challenge, nonce, **ok | {"least_difficulty": 9})


@pytest.mark.parametrize(("digest", "bits"), [
    (bytes(32), 256), (b"\x80" + bytes(31), 0), (b"\x01" + bytes(31), 7),
    (b"\x00\x00\x10" + bytes(29), 19), (b"\x00" * 31 + b"\x01", 255),
])
def test_zero_bits_counts_from_the_first_byte(digest, bits):
    assert primitives.zero_bits(digest) == bits


def test_out_of_range_challenges_cannot_be_made():
    for changes in ({"purpose": "upload"}, {"difficulty": puzzle.MAX_DIFFICULTY + 1},
                    {"difficulty": -1}, {"expires": 2**64}):
        with pytest.raises(ValueError):
            _challenge(**changes)


# --- a client's side: solving what a server offers ------------------------------------


def _offer(vector, **changes):
    return {"algorithm": "tipdrop/v1/puzzle", "challenge": vector["challenge"],
            "difficulty": vector["difficulty"], "expires_in": 600} | changes


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["purpose"])
def test_a_client_solves_an_offered_puzzle_as_the_vector_says(vector):
    assert puzzle.solve_offered(_offer(vector)) == vector["solution"]


def test_a_client_works_to_the_tokens_own_difficulty_not_the_json_member():
    """The server holds the work to the token's byte; a lower JSON number changes nothing."""
    vector = VECTORS["vectors"][1]
    assert puzzle.solve_offered(_offer(vector, difficulty=1)) == vector["solution"]


def test_a_client_refuses_a_puzzle_harder_than_it_works_for():
    hard = _challenge(difficulty=puzzle.CLIENT_MAX_DIFFICULTY + 1)
    offer = {"algorithm": "tipdrop/v1/puzzle", "challenge": hard.text, "difficulty": 29}
    with pytest.raises(puzzle.PuzzleOfferError, match="29 bits"):
        puzzle.solve_offered(offer)


@pytest.mark.parametrize("offer", [
    {"algorithm": "tipdrop/v2/puzzle", "challenge": VECTORS["vectors"][0]["challenge"]},
    {"algorithm": "tipdrop/v1/puzzle", "challenge": VECTORS["vectors"][0]["challenge"][:-1]},
    {"algorithm": "tipdrop/v1/puzzle", "challenge": "!" * puzzle.CHALLENGE_CHARS},
    {"algorithm": "tipdrop/v1/puzzle", "challenge": 7},
    {"algorithm": "tipdrop/v1/puzzle"},
], ids=["another algorithm", "cut short", "not base64url", "not a string", "no challenge"])
def test_a_client_refuses_what_is_not_a_puzzle_it_knows(offer):
    with pytest.raises(puzzle.PuzzleOfferError):
        puzzle.solve_offered(offer)


@pytest.mark.parametrize(("status", "raw", "found"), [
    (429, b'{"error": "RateLimitedError", "puzzle": {"challenge": "x"}}', {"challenge": "x"}),
    (429, b'{"error": "RateLimitedError", "message": "wait"}', None),
    (429, b"<html>429</html>", None),
    (429, b'{"puzzle": "x"}', None),
    (429, b"[1]", None),
    (400, b'{"puzzle": {"challenge": "x"}}', None),
])
def test_only_a_429_json_object_offers_a_puzzle(status, raw, found):
    assert puzzle.offered(status, raw) == found
