"""Proof-of-work challenges: the signed token a limited client must solve (docs/protocol.md section 21).

Every onion visitor reaches the server from 127.0.0.1, so a limit per
address stops all of them or none. When a limit is reached, a client that
can compute (a page's JavaScript, an app) is handed a *challenge* instead of
a flat refusal: a short token the server signs and does not store, carrying
what the limit is, how hard the puzzle is, when it expires and a random id.
The client finds a nonce such that SHA-256(token || nonce) starts with that
many zero bits and sends ``challenge.nonce`` with its request; the server
checks the MAC, the expiry, the difficulty and one hash, and remembers the
id until the expiry so a solution is spent once (tipdrop/server/web/puzzles.py).

The token names no client and no time finer than a minute: the expiry is
rounded up to a whole minute, and the id is random.

    token     = header || HMAC-SHA256(day key, canonical("tipdrop/v1/puzzle", header))
    header    = u8 version (1) || u8 purpose || u8 difficulty || u64 expires || id (16 bytes)
    challenge = base64url-without-padding(token)
    solution  = challenge "." 16 lowercase hex digits (the 8-byte nonce)
"""

import base64
import binascii
import json
import re
import secrets
import struct
from dataclasses import dataclass

from tipdrop.crypto import puzzle as primitives
from tipdrop.errors import InputError

VERSION = 1
#: Which limit a challenge admits a request past; its byte is the position + 1.
PURPOSES = ("submit", "check", "followup", "locator")
ID_LEN = 16
HEADER = struct.Struct(">BBBQ16s")
TOKEN_LEN = HEADER.size + primitives.MAC_LEN
CHALLENGE_CHARS = (TOKEN_LEN * 4 + 2) // 3
SECONDS_PER_DAY = 86400
MAX_DIFFICULTY = primitives.MAX_DIFFICULTY
_SOLUTION = re.compile(rf"^([A-Za-z0-9_-]{{{CHALLENGE_CHARS}}})\.([0-9a-f]{{16}})$")


class PuzzleRefusedError(InputError):
    """The anti-flood puzzle could not be accepted. Please try again."""

    #: The request stays over its limit: the answer carries a new challenge.
    http_status = 429
    detail_is_message = False


class PuzzleInvalidError(PuzzleRefusedError):
    """The anti-flood puzzle was not solved correctly. Please try again."""


class PuzzleExpiredError(PuzzleRefusedError):
    """The anti-flood puzzle has expired. Please try again."""


class PuzzleTooEasyError(PuzzleRefusedError):
    """The anti-flood puzzle is no longer hard enough: the service is under heavy load. Please try again."""


class PuzzleSpentError(PuzzleRefusedError):
    """This anti-flood puzzle was already used. Please try again."""


@dataclass(frozen=True)
class Challenge:
    """One signed challenge, as made or as read back (MAC checked)."""

    purpose: str
    difficulty: int
    expires: int
    id: bytes
    token: bytes

    @property
    def text(self) -> str:
        """The challenge as it travels: base64url without padding."""
        return base64.urlsafe_b64encode(self.token).decode("ascii").rstrip("=")

    def solution(self, nonce: bytes) -> str:
        """What the client sends back: ``challenge.nonce`` (nonce in hex)."""
        if len(nonce) != primitives.NONCE_LEN:
            raise InputError("a puzzle nonce is 8 bytes")
        return f"{self.text}.{nonce.hex()}"

    def __repr__(self) -> str:
        return f"Challenge({self.purpose}, {self.difficulty} bits, expires {self.expires})"


def _day(expires: int) -> int:
    return expires // SECONDS_PER_DAY


def make(secret: bytes, *, purpose: str, difficulty: int, expires: int) -> Challenge:
    """A new challenge with a random id, signed under the key of its expiry's day."""
    return _make_with_id(secret, purpose, difficulty, expires, secrets.token_bytes(ID_LEN))


def _make_with_id(secret: bytes, purpose: str, difficulty: int, expires: int,
                  id_: bytes) -> Challenge:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown puzzle purpose {purpose!r}")
    if not 0 <= difficulty <= primitives.MAX_DIFFICULTY:
        raise ValueError("puzzle difficulty out of range")
    if len(id_) != ID_LEN or not 0 <= expires < 2**64:
        raise ValueError("puzzle id or expiry out of range")
    header = HEADER.pack(VERSION, PURPOSES.index(purpose) + 1, difficulty, expires, id_)
    tag = primitives.mac(primitives.day_key(secret, _day(expires)), header)
    return Challenge(purpose, difficulty, expires, id_, header + tag)


def read(secret: bytes, text: str) -> Challenge:
    """A challenge this server made, from its text; PuzzleInvalidError otherwise.

    The MAC is checked (in constant time) before any field is believed.
    """
    if not isinstance(text, str) or len(text) != CHALLENGE_CHARS:
        raise PuzzleInvalidError("not a challenge")
    try:
        token = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PuzzleInvalidError("not a challenge") from None
    if len(token) != TOKEN_LEN:
        raise PuzzleInvalidError("not a challenge")
    header, tag = token[:HEADER.size], token[HEADER.size:]
    version, code, difficulty, expires, id_ = HEADER.unpack(header)
    try:
        primitives.check_mac(primitives.day_key(secret, _day(expires)), header, tag)
    except primitives.PuzzleMacError:
        raise PuzzleInvalidError("not signed by this server") from None
    if version != VERSION or not 1 <= code <= len(PURPOSES) or (
            difficulty > primitives.MAX_DIFFICULTY):
        raise PuzzleInvalidError("unknown version or purpose")
    return Challenge(PURPOSES[code - 1], difficulty, expires, id_, token)


def read_solution(secret: bytes, text: str) -> tuple[Challenge, bytes]:
    """(challenge, nonce) of a solution's text; the challenge's MAC checked."""
    match = _SOLUTION.match(text) if isinstance(text, str) else None
    if match is None:
        raise PuzzleInvalidError("not a solution")
    return read(secret, match.group(1)), bytes.fromhex(match.group(2))


def check(challenge: Challenge, nonce: bytes, *, purpose: str, now: int,
          least_difficulty: int) -> None:
    """Raise the reason a solution is refused, if any; the server then spends its id.

    In this order: made for another limit or not solved (PuzzleInvalidError),
    expired (``now`` at or past its expiry), easier than the server asks for
    now (PuzzleTooEasyError), and the work itself: one SHA-256.
    """
    if challenge.purpose != purpose:
        raise PuzzleInvalidError("made for another request")
    if now >= challenge.expires:
        raise PuzzleExpiredError()
    if challenge.difficulty < least_difficulty:
        raise PuzzleTooEasyError()
    if not primitives.solves(challenge.token, nonce, challenge.difficulty):
        raise PuzzleInvalidError("the nonce does not solve it")


def solve(challenge: Challenge) -> str:
    """Do the work in Python and return the solution's text (clients, tests, bench)."""
    return challenge.solution(primitives.solve(challenge.token, challenge.difficulty))


# --- a client's side ------------------------------------------------------------

ALGORITHM = "tipdrop/v1/puzzle"
#: The header a request sent again carries its solution in.
SOLUTION_HEADER = "Tipdrop-Puzzle-Solution"
#: Puzzles a client solves in a row for one request (each refused solution, expired
#: or spent, comes back with a new puzzle) before it takes the 429 as the answer.
MAX_SOLVES = 3
#: The most bits a client in Python works for: 2^28 SHA-256 digests expected, a few
#: minutes of one core. An honest server asks TIPDROP_PUZZLE_BITS (16) plus at most
#: 4 under load; a server asking far more would hold the client for hours.
CLIENT_MAX_DIFFICULTY = 28


class PuzzleOfferError(InputError):
    """The server's anti-flood puzzle is not one this client can solve."""

    detail_is_message = False


def offered(status: int, raw: bytes) -> dict[str, object] | None:
    """The puzzle a server's answer offers: the ``puzzle`` member of a 429's JSON object."""
    if status != 429:
        return None
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return puzzle_of(answer)


def puzzle_of(answer: object) -> dict[str, object] | None:
    """The ``puzzle`` member of a 429 answer's parsed JSON, or None when there is none."""
    if not isinstance(answer, dict):
        return None
    found = answer.get("puzzle")
    return found if isinstance(found, dict) else None


def solve_offered(offer: dict[str, object],
                  max_difficulty: int = CLIENT_MAX_DIFFICULTY) -> str:
    """The solution's text for a puzzle a server offered (docs/protocol.md section 21).

    A client cannot check the MAC (it is the server's) and need not: the
    server does. It reads the token's own difficulty byte, the one the server
    will hold the work to, and refuses to work past ``max_difficulty``.
    """
    text = offer.get("challenge")
    if offer.get("algorithm") != ALGORITHM or not isinstance(text, str) or (
            len(text) != CHALLENGE_CHARS):
        raise PuzzleOfferError("not a tipdrop/v1/puzzle challenge")
    try:
        token = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PuzzleOfferError("the challenge is not base64url") from None
    if len(token) != TOKEN_LEN:
        raise PuzzleOfferError("the challenge is not base64url of a token")
    difficulty = token[2]
    if difficulty > max_difficulty:
        raise PuzzleOfferError(f"it asks {difficulty} bits of work, more than the "
                               f"{max_difficulty} this client does")
    return f"{text}.{primitives.solve(token, difficulty).hex()}"
