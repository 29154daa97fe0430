"""HPKE base mode (RFC 9180), single shot, for one suite, through pyca/cryptography.

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM — the suite a
browser can also run (WebCrypto has X25519, HMAC and AES-GCM but no
ChaCha20-Poly1305), and one that standard HPKE libraries on phones offer.
Both sealing and opening are the library's ``hpke.Suite``; this module only
fixes the suite, checks argument types and turns the library's failures into
the project's DecryptionError. The context is bound through ``info`` alone
(docs/protocol.md section 2): the library takes no ``aad``, and tipdrop
never needs one.

The library draws the ephemeral key itself and offers no way to pass one in,
so it cannot reproduce a known-answer vector. The deterministic key schedule
that made tipdrop's vectors lives with them, in tests/vectors/rfc9180.py,
test-only code checked against RFC 9180's own vectors and against this
module both ways; no production signature takes an ephemeral key.

Wire form of a sealed message: ``enc (32 bytes) || AEAD ciphertext``.
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke as _lib
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)

from tipdrop.errors import DecryptionError

ENC_LEN = 32
TAG_LEN = 16
OVERHEAD = ENC_LEN + TAG_LEN

_SUITE = _lib.Suite(_lib.KEM.X25519, _lib.KDF.HKDF_SHA256, _lib.AEAD.AES_256_GCM)


def seal(plaintext: bytes, recipient: X25519PublicKey, info: bytes) -> bytes:
    """Encrypt ``plaintext`` to the X25519 public key ``recipient``.

    ``info`` binds the ciphertext to its context: opening with any other
    ``info`` fails. The library draws a fresh ephemeral key for every call.
    """
    if not isinstance(recipient, X25519PublicKey):
        raise TypeError("recipient must be an X25519PublicKey")
    return _SUITE.encrypt(bytes(plaintext), recipient, info=bytes(info))


def open_(sealed: bytes | bytearray, private_key: X25519PrivateKey, info: bytes) -> bytes:
    """Decrypt a message made by :func:`seal`; raise DecryptionError on any fault."""
    if not isinstance(private_key, X25519PrivateKey):
        raise TypeError("private_key must be an X25519PrivateKey")
    if len(sealed) < OVERHEAD:
        raise DecryptionError("too short to be a sealed message")
    try:
        return _SUITE.decrypt(bytes(sealed), private_key, info=bytes(info))
    except (InvalidTag, ValueError):
        raise DecryptionError() from None
