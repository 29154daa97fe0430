"""Ed25519 signatures over canonical, labelled records.

Each record type has its own label (``tipdrop/v1/reply``,
``tipdrop/v1/status``, ``tipdrop/v1/request`` ...) so a signature made for one
kind of record can never be accepted as another. Callers include the tip id
and a per-tip sequence number among the fields, so replays and reorderings
change the signed bytes.
"""

from typing import TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from tipdrop.crypto import canonical
from tipdrop.errors import SignatureError

SIGNATURE_LEN = 64

#: The key types, by name, for modules outside tipdrop.crypto: only this
#: package imports the crypto libraries (the import contracts in pyproject.toml).
PrivateKey: TypeAlias = Ed25519PrivateKey
PublicKey: TypeAlias = Ed25519PublicKey

LABELS = frozenset(
    {
        "tipdrop/v1/reply",
        "tipdrop/v1/status",
        "tipdrop/v1/request",
        "tipdrop/v1/bundle",
        "tipdrop/v1/export-ack",
        "tipdrop/v2/export-ack",
        "tipdrop/v1/followup",
        "tipdrop/v1/forward",
    }
)


def _message(label: str, fields: tuple[canonical.Field, ...]) -> bytes:
    if label not in LABELS:
        raise ValueError(f"unknown signature label {label!r}")
    return canonical.encode(label, *fields)


def sign(private_key: Ed25519PrivateKey, label: str, *fields: canonical.Field) -> bytes:
    """Sign the canonical encoding of ``fields`` under ``label``."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("private_key must be an Ed25519PrivateKey")
    return private_key.sign(_message(label, fields))


def verify(public_key: Ed25519PublicKey | bytes | bytearray, signature: bytes, label: str,
           *fields: canonical.Field) -> None:
    """Raise SignatureError unless ``signature`` is valid; return None otherwise."""
    if isinstance(public_key, (bytes, bytearray)):
        if len(public_key) != 32:
            raise SignatureError("public key has the wrong length")
        public_key = Ed25519PublicKey.from_public_bytes(bytes(public_key))
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != SIGNATURE_LEN:
        raise SignatureError("signature has the wrong length")
    try:
        public_key.verify(bytes(signature), _message(label, fields))
    except InvalidSignature:
        raise SignatureError() from None
