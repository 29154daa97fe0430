"""Duty alerts: the webhook's body and signature, written by the server, checked by a receiver.

An alert says only "unit X: N new, M urgent" (docs/operations.md, "Duty
alerts"): no tip id, no category, no time but the moment it is sent. The
webhook body is padded to :data:`BODY_SIZE` bytes, so its length tells
nothing about the counts, and signed with HMAC-SHA256 under the unit's
shared secret over the timestamp and the body, so a receiver can refuse a
forged, changed or replayed alert (docs/protocol.md section 20). The
receiver's side, :func:`verify_webhook`, is the reference for a duty system
written in another language; the tests check the server against it.
"""

import json
import re
from dataclasses import dataclass

from tipdrop.crypto import mac
from tipdrop.crypto.keys import UNIT_NAME
from tipdrop.errors import FormatError, SignatureError

LABEL = "tipdrop/v1/alert"
VERSION = 1
#: Every webhook body has exactly this many bytes (JSON, then spaces).
BODY_SIZE = 256
#: The most one alert counts of either kind; more wait for the next alert.
MAX_COUNT = 999_999
NONCE_LEN = 16
#: How far a receiver lets the timestamp stray from its own clock, in seconds.
WINDOW = 300
TIMESTAMP_HEADER = "X-Tipdrop-Timestamp"
SIGNATURE_HEADER = "X-Tipdrop-Signature"
_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[0-9a-f]{32}")


class AlertFormatError(FormatError):
    """This is not a tipdrop alert."""


class AlertTimeError(SignatureError):
    """The alert's timestamp is too far from this computer's clock (old, replayed, or a clock is wrong)."""


@dataclass(frozen=True)
class Alert:
    """What an alert tells: a unit, how many new reports, how many of them urgent."""

    unit: str
    new: int
    urgent: int

    def __post_init__(self) -> None:
        if not isinstance(self.unit, str) or not UNIT_NAME.fullmatch(self.unit):
            raise AlertFormatError("the unit is not a unit name")
        for count in (self.new, self.urgent):
            if isinstance(count, bool) or not isinstance(count, int) \
                    or not 0 <= count <= MAX_COUNT:
                raise AlertFormatError(f"a count is not a whole number from 0 to {MAX_COUNT}")
        if self.urgent > self.new:
            raise AlertFormatError("more urgent reports than new ones")


def webhook_body(alert: Alert, nonce: bytes) -> bytes:
    """The alert as :data:`BODY_SIZE` bytes: compact JSON, then spaces."""
    if not isinstance(nonce, (bytes, bytearray)) or len(nonce) != NONCE_LEN:
        raise ValueError(f"the nonce is {NONCE_LEN} random bytes")
    doc = {"version": VERSION, "unit": alert.unit, "new": alert.new, "urgent": alert.urgent,
           "nonce": bytes(nonce).hex()}
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    if len(text) > BODY_SIZE:
        raise ValueError("the alert does not fit the body")  # cannot happen: names are short
    return text + b" " * (BODY_SIZE - len(text))


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Tipdrop-Signature header: ``v1=`` and the hex HMAC-SHA256 of timestamp and body."""
    return "v1=" + mac.tag(secret, LABEL, timestamp, body).hex()


def verify_webhook(secret: bytes, timestamp: str, signature_header: str, body: bytes,
                   now: int, window: int = WINDOW) -> tuple[Alert, str]:
    """What a receiver does: check the signature and the time, then read the body.

    Returns the alert and its nonce (hex); a receiver remembers nonces for
    ``window`` seconds and refuses one it has seen. Raises SignatureError
    for a wrong signature, AlertTimeError for a timestamp too far from
    ``now``, AlertFormatError for a body that is not an alert. The
    signature is checked first, so nothing unauthenticated is parsed.
    """
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        raise AlertFormatError(f"{TIMESTAMP_HEADER} is not a number of seconds")
    found = _SIGNATURE.fullmatch(signature_header or "")
    if found is None:
        raise AlertFormatError(f"{SIGNATURE_HEADER} is not v1= and 64 hex digits")
    mac.check(secret, bytes.fromhex(found.group(1)), LABEL, int(timestamp), bytes(body))
    if abs(now - int(timestamp)) > window:
        raise AlertTimeError()
    return _read_body(bytes(body))


def _read_body(body: bytes) -> tuple[Alert, str]:
    if len(body) != BODY_SIZE:
        raise AlertFormatError(f"the body is not {BODY_SIZE} bytes")
    try:
        doc = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise AlertFormatError("the body is not JSON") from None
    if not isinstance(doc, dict) or sorted(doc) != ["new", "nonce", "unit", "urgent", "version"]:
        raise AlertFormatError("the body has other members than an alert's")
    if doc["version"] != VERSION:
        raise AlertFormatError(f"alert format version {doc['version']!r} is not {VERSION}")
    nonce = doc["nonce"]
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise AlertFormatError("the nonce is not 32 hex digits")
    return Alert(doc["unit"], doc["new"], doc["urgent"]), nonce
