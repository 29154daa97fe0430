"""HPKE base mode (RFC 9180), single shot, for one suite.

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM — the suite a
browser can also run (WebCrypto has X25519, HMAC and AES-GCM but no
ChaCha20-Poly1305), and one that standard HPKE libraries on phones offer.

Why not call ``cryptography.hazmat.primitives.hpke`` for sealing? Its
``encrypt`` draws the ephemeral key itself, so no known-answer vector could be
produced. This module builds RFC 9180's key schedule from pyca/cryptography's
X25519, HMAC, HKDF-Expand and AES-GCM with the ephemeral key as a parameter;
tests check it byte for byte against RFC 9180's vectors, and both ways
against the library's own HPKE. Opening uses the library directly.

Wire form of a sealed message: ``enc (32 bytes) || AEAD ciphertext``, exactly
what the library's ``Suite.encrypt`` produces.
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives import hpke as _lib
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ..errors import DecryptionError

KEM_X25519_HKDF_SHA256 = 0x0020
KDF_HKDF_SHA256 = 0x0001
AEAD_AES_128_GCM = 0x0001
AEAD_AES_256_GCM = 0x0002

ENC_LEN = 32
TAG_LEN = 16
OVERHEAD = ENC_LEN + TAG_LEN

_KEY_LEN = {AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 32}
_NONCE_LEN = 12
_MODE_BASE = b"\x00"

_LIB_SUITE = _lib.Suite(_lib.KEM.X25519, _lib.KDF.HKDF_SHA256, _lib.AEAD.AES_256_GCM)


def _i2osp(value, length):
    return value.to_bytes(length, "big")


def _extract(salt, ikm):
    mac = hmac.HMAC(salt or bytes(32), hashes.SHA256())
    mac.update(ikm)
    return mac.finalize()


def _expand(prk, info, length):
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def _labeled_extract(suite_id, salt, label, ikm):
    return _extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id, prk, label, info, length):
    labeled_info = _i2osp(length, 2) + b"HPKE-v1" + suite_id + label + info
    return _expand(prk, labeled_info, length)


def _raw(public_key):
    return public_key.public_bytes_raw()


def _encap(recipient, ephemeral):
    """DHKEM(X25519) Encap with a given ephemeral key; returns (shared, enc)."""
    kem_suite = b"KEM" + _i2osp(KEM_X25519_HKDF_SHA256, 2)
    enc = _raw(ephemeral.public_key())
    dh = ephemeral.exchange(recipient)
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    kem_context = enc + _raw(recipient)
    shared = _labeled_expand(kem_suite, eae_prk, b"shared_secret", kem_context, 32)
    return shared, enc


def _key_schedule(shared_secret, info, aead_id):
    suite_id = (
        b"HPKE"
        + _i2osp(KEM_X25519_HKDF_SHA256, 2)
        + _i2osp(KDF_HKDF_SHA256, 2)
        + _i2osp(aead_id, 2)
    )
    psk_id_hash = _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite_id, b"", b"info_hash", info)
    context = _MODE_BASE + psk_id_hash + info_hash
    secret = _labeled_extract(suite_id, shared_secret, b"secret", b"")
    key = _labeled_expand(suite_id, secret, b"key", context, _KEY_LEN[aead_id])
    nonce = _labeled_expand(suite_id, secret, b"base_nonce", context, _NONCE_LEN)
    return key, nonce


def _seal_with_ephemeral(
    plaintext, recipient, info, ephemeral, aad=b"", aead_id=AEAD_AES_256_GCM
):
    """Seal with a caller-chosen ephemeral key: for known-answer tests only."""
    shared, enc = _encap(recipient, ephemeral)
    key, nonce = _key_schedule(shared, info, aead_id)
    return enc + AESGCM(key).encrypt(nonce, plaintext, aad or None)


def seal(plaintext, recipient, info):
    """Encrypt ``plaintext`` to the X25519 public key ``recipient``.

    ``info`` binds the ciphertext to its context: opening with any other
    ``info`` fails. A fresh ephemeral key is drawn for every call.
    """
    if not isinstance(recipient, X25519PublicKey):
        raise TypeError("recipient must be an X25519PublicKey")
    return _seal_with_ephemeral(
        bytes(plaintext), recipient, bytes(info), X25519PrivateKey.generate()
    )


def open_(sealed, private_key, info):
    """Decrypt a message made by :func:`seal`; raise DecryptionError on any fault."""
    if not isinstance(private_key, X25519PrivateKey):
        raise TypeError("private_key must be an X25519PrivateKey")
    if len(sealed) < OVERHEAD:
        raise DecryptionError("too short to be a sealed message")
    try:
        return _LIB_SUITE.decrypt(bytes(sealed), private_key, info=bytes(info))
    except (InvalidTag, ValueError):
        raise DecryptionError() from None
