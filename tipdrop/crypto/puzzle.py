"""The proof-of-work puzzle's primitives: the challenge's MAC and the work check.

docs/protocol.md section 21. The server signs each challenge it hands out
with HMAC-SHA256 under a key of the day derived from its token secret, so it
can check a challenge it never stored. A solver proves work by finding a
nonce for which SHA-256(challenge || nonce) starts with ``difficulty`` zero
bits: what a browser computes with WebCrypto's ``crypto.subtle.digest``, and
what the server checks with one hash.
"""

import hashlib
import itertools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tipdrop.crypto import canonical
from tipdrop.errors import CryptoError, FormatError

KEY_LABEL = "tipdrop/v1/puzzle-key"
MAC_LABEL = "tipdrop/v1/puzzle"
KEY_LEN = 32
MAC_LEN = 32
NONCE_LEN = 8
#: The hardest puzzle this code will make or check: far beyond any phone.
MAX_DIFFICULTY = 64


class PuzzleMacError(CryptoError):
    """The puzzle was not made by this server."""


def day_key(secret: bytes, day: int) -> bytes:
    """The MAC key of challenges that expire on UTC ``day`` (days since 1970-01-01).

    HKDF-Expand(SHA-256) of the server's 32-byte token secret with the info
    canonical("tipdrop/v1/puzzle-key", day): a key leaked from one day mints
    no challenge for another, and replacing the token secret replaces all.
    """
    if not isinstance(secret, (bytes, bytearray)) or len(secret) < 32:
        raise FormatError("the puzzle secret must be at least 32 bytes")
    info = canonical.encode(KEY_LABEL, day)
    return HKDFExpand(hashes.SHA256(), KEY_LEN, info).derive(bytes(secret))


def _hmac(key: bytes, header: bytes) -> hmac.HMAC:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(canonical.encode(MAC_LABEL, header))
    return mac


def mac(key: bytes, header: bytes) -> bytes:
    """HMAC-SHA256(key, canonical("tipdrop/v1/puzzle", header))."""
    return _hmac(key, header).finalize()


def check_mac(key: bytes, header: bytes, tag: bytes) -> None:
    """Raise PuzzleMacError unless ``tag`` is the header's MAC (constant time)."""
    try:
        _hmac(key, header).verify(tag)
    except InvalidSignature:
        raise PuzzleMacError() from None


def work(challenge: bytes, nonce: bytes) -> bytes:
    """SHA-256(challenge || nonce): the digest whose leading zero bits count."""
    if len(nonce) != NONCE_LEN:
        raise FormatError(f"a puzzle nonce is {NONCE_LEN} bytes")
    return hashlib.sha256(challenge + nonce).digest()


def zero_bits(digest: bytes) -> int:
    """How many bits at the start of ``digest`` are zero."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solves(challenge: bytes, nonce: bytes, difficulty: int) -> bool:
    """Whether SHA-256(challenge || nonce) starts with ``difficulty`` zero bits."""
    return zero_bits(work(challenge, nonce)) >= difficulty


def solve(challenge: bytes, difficulty: int, start: int = 0) -> bytes:
    """The first nonce from ``start`` (as u64) that solves the challenge.

    For clients in Python (the reference client, tests, the bench); a
    browser runs the same loop with WebCrypto (static/js/puzzle.js).
    """
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise FormatError("puzzle difficulty out of range")
    prefix = hashlib.sha256(challenge)
    # The same test as zero_bits, without turning every digest into an integer.
    whole, rest = divmod(difficulty, 8)
    zeros, limit = bytes(whole), 1 << (8 - rest)
    for counter in itertools.count(start):
        nonce = counter.to_bytes(NONCE_LEN, "big")
        digest = prefix.copy()
        digest.update(nonce)
        value = digest.digest()
        if value[:whole] == zeros and (rest == 0 or value[whole] < limit):
            return nonce
    raise AssertionError("unreachable")
