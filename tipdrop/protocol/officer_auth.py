"""Signed officer API requests: the workstation proves it holds the unit's key.

The server keeps no password and no token (docs/design.md, invariant 6): every request to
/officer/v1 carries an Ed25519 signature by the unit's signing key over

    encode("tipdrop/v1/request", u64(1), unit, key_id, method, target,
           u64(timestamp), nonce, SHA-256(body))

and the server checks it with the public key it already holds in keys/. The
timestamp bounds how long a captured request stays usable (WINDOW seconds
either way, so workstation clocks may be a little off); the random nonce,
remembered by the server for that long, makes each request usable once. See
docs/protocol.md section 12.

No Flask and no database here: the server passes the headers it received
and a ``remember_nonce`` callback, so the same code is tested alone.
"""

import base64
import binascii
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tipdrop.crypto import canonical, keys, signing
from tipdrop.errors import SignatureError, TipdropError, UnknownUnitError

LABEL = "tipdrop/v1/request"
#: How far (seconds) a request's timestamp may be from the server's clock.
WINDOW = 300
NONCE_LEN = 16

UNIT = "Tipdrop-Unit"
KEY_ID = "Tipdrop-Key-Id"
TIMESTAMP = "Tipdrop-Timestamp"
NONCE = "Tipdrop-Nonce"
SIGNATURE = "Tipdrop-Signature"
HEADERS = (UNIT, KEY_ID, TIMESTAMP, NONCE, SIGNATURE)

_HEX32 = re.compile(r"[0-9a-f]{32}")
_DIGITS = re.compile(r"[0-9]{1,12}")


class Headers(Protocol):
    """The request's headers as the web framework gives them (or a dict)."""

    def get(self, key: str, /) -> str | None: ...


class InstalledKeys(Protocol):
    """The server's public keys (tipdrop.server.unitkeys), looked up by key id."""

    def by_id(self, key_id: bytes, /) -> keys.UnitPublicKey: ...


class RequestAuthError(TipdropError):
    """The request's signature was refused: it is missing, forged, expired or replayed."""

    http_status = 401


@dataclass(frozen=True)
class SignedRequest:
    """The signature headers of one request, parsed and checked for shape only."""

    unit: str
    key_id: bytes
    timestamp: int
    nonce: bytes
    signature: bytes


def request_fields(unit: str, key_id: bytes, method: str, target: str, timestamp: int,
                   nonce: bytes, body_hash: bytes) -> tuple[canonical.Field, ...]:
    """What a request signature covers, in order (docs/protocol.md section 12)."""
    return (canonical.FORMAT_VERSION, unit, bytes(key_id), method, target, timestamp,
            bytes(nonce), bytes(body_hash))


def sign_request(unit_key: keys.UnitPrivateKey, method: str, target: str,
                 body: bytes = b"") -> dict[str, str]:
    """The signature headers for one request by ``unit_key``, signed now."""
    return _sign_request_at(unit_key.ed25519, unit_key.unit, unit_key.key_id, method, target,
                            body, timestamp=int(time.time()),
                            nonce=secrets.token_bytes(NONCE_LEN))


def _sign_request_at(signing_key: signing.PrivateKey, unit: str, key_id: bytes, method: str,
                     target: str, body: bytes, *, timestamp: int, nonce: bytes) -> dict[str, str]:
    """:func:`sign_request` with the time and the nonce given (known-answer tests)."""
    if len(nonce) != NONCE_LEN or len(key_id) != keys.KEY_ID_LEN:
        raise ValueError("nonce and key id must be 16 bytes")
    fields = request_fields(unit, key_id, method, target, timestamp, nonce,
                            hashlib.sha256(body).digest())
    signature = signing.sign(signing_key, LABEL, *fields)
    return {
        UNIT: unit,
        KEY_ID: bytes(key_id).hex(),
        TIMESTAMP: str(timestamp),
        NONCE: bytes(nonce).hex(),
        SIGNATURE: base64.b64encode(signature).decode("ascii"),
    }


def parse_headers(headers: Headers) -> SignedRequest:
    """Read the five signature headers from a mapping; raise RequestAuthError."""
    values: dict[str, str] = {}
    for name in HEADERS:
        value = headers.get(name)
        if not value:
            raise RequestAuthError(f"the header {name} is missing")
        values[name] = value
    if not keys.UNIT_NAME.fullmatch(values[UNIT]):
        raise RequestAuthError(f"the header {UNIT} is not a unit name")
    for name in (KEY_ID, NONCE):
        if not _HEX32.fullmatch(values[name]):
            raise RequestAuthError(f"the header {name} is not 32 lowercase hex digits")
    if not _DIGITS.fullmatch(values[TIMESTAMP]):
        raise RequestAuthError(f"the header {TIMESTAMP} is not a time in seconds")
    try:
        signature = base64.b64decode(values[SIGNATURE].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise RequestAuthError(f"the header {SIGNATURE} is not base64") from None
    return SignedRequest(values[UNIT], bytes.fromhex(values[KEY_ID]), int(values[TIMESTAMP]),
                         bytes.fromhex(values[NONCE]), signature)


def verify_request(headers: Headers, unit_keys: InstalledKeys, *, method: str, target: str,
                   body: bytes, now: int, remember_nonce: Callable[[str, int], bool],
                   window: int = WINDOW) -> keys.UnitPublicKey:
    """Check a request's signature headers; return the signer's UnitPublicKey.

    ``remember_nonce(nonce_hex, expires)`` records the nonce and returns
    False if it was already recorded. It is called last, so only a request
    that is otherwise valid can use up a nonce.
    """
    signed = parse_headers(headers)
    try:
        public = unit_keys.by_id(signed.key_id)
    except UnknownUnitError:
        raise RequestAuthError(
            f"key {signed.key_id.hex()} is not installed on this server") from None
    if public.unit != signed.unit:
        raise RequestAuthError(f"key {signed.key_id.hex()} is not a key of unit {signed.unit}")
    skew = signed.timestamp - now
    if abs(skew) > window:
        raise RequestAuthError(
            f"the request is dated {skew:+d} s from the server's clock (at most {window} s "
            "either way): check the workstation's clock")
    fields = request_fields(signed.unit, signed.key_id, method, target, signed.timestamp,
                            signed.nonce, hashlib.sha256(body).digest())
    try:
        signing.verify(public.ed25519, signed.signature, LABEL, *fields)
    except SignatureError:
        raise RequestAuthError("the signature does not match this request") from None
    if not remember_nonce(signed.nonce.hex(), signed.timestamp + window):
        raise RequestAuthError("this request was already received once: replays are refused")
    return public
