"""HMAC-SHA256 over canonical, labelled records: the signature of a duty alert's webhook.

A webhook receiver shares a secret with the server (not a key pair: the
receiver is a duty system of the unit's own, not a workstation holding the
unit key), so the server proves an alert is its own with an HMAC rather than
an Ed25519 signature. As for signatures, the label separates record types
and the fields are length-prefixed (canonical.py), so no other record's MAC
can pass for an alert's (docs/protocol.md section 20).
"""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from tipdrop.crypto import canonical
from tipdrop.errors import SignatureError

MAC_LEN = 32

LABELS = frozenset({"tipdrop/v1/alert"})


def _mac(key: bytes, label: str, fields: tuple[canonical.Field, ...]) -> hmac.HMAC:
    if label not in LABELS:
        raise ValueError(f"unknown MAC label {label!r}")
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise TypeError("the MAC key must be non-empty bytes")
    mac = hmac.HMAC(bytes(key), hashes.SHA256())
    mac.update(canonical.encode(label, *fields))
    return mac


def tag(key: bytes, label: str, *fields: canonical.Field) -> bytes:
    """HMAC-SHA256 under ``key`` of the canonical encoding of ``fields`` under ``label``."""
    return _mac(key, label, fields).finalize()


def check(key: bytes, mac: bytes, label: str, *fields: canonical.Field) -> None:
    """Raise SignatureError unless ``mac`` is :func:`tag` of the same fields (constant time)."""
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != MAC_LEN:
        raise SignatureError("the MAC has the wrong length")
    try:
        _mac(key, label, fields).verify(bytes(mac))
    except InvalidSignature:
        raise SignatureError() from None
