"""RFC 9180's key schedule with a chosen ephemeral key: test-only, for known answers.

tipdrop seals with pyca/cryptography's HPKE (tipdrop/crypto/hpke.py), which
draws the ephemeral key itself and so cannot reproduce a fixed vector. This
module rebuilds the same single-shot base-mode sealing (DHKEM(X25519,
HKDF-SHA256), HKDF-SHA256, AES-128/256-GCM; RFC 9180 sections 4.1, 5.1 and
6.1) from pyca/cryptography's X25519, HMAC, HKDF-Expand and AES-GCM, with the
ephemeral key as a parameter. tests/crypto/test_hpke.py checks it against
RFC 9180's own vectors (hpke-rfc9180.json) and against the library's HPKE,
so a vector made here is one the library could have made.

Used by generate.py (imported as ``rfc9180``, since the script runs from
this folder) and by the unit tests (``tests.vectors.rfc9180``). Never
imported by tipdrop itself.
"""

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tipdrop.crypto import envelope, stream

KEM_X25519_HKDF_SHA256 = 0x0020
KDF_HKDF_SHA256 = 0x0001
AEAD_AES_128_GCM = 0x0001
AEAD_AES_256_GCM = 0x0002

_KEY_LEN = {AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 32}
_NONCE_LEN = 12
_MODE_BASE = b"\x00"


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


def encap(recipient, ephemeral):
    """DHKEM(X25519) Encap with a given ephemeral key; returns (shared secret, enc)."""
    kem_suite = b"KEM" + _i2osp(KEM_X25519_HKDF_SHA256, 2)
    enc = ephemeral.public_key().public_bytes_raw()
    dh = ephemeral.exchange(recipient)
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    kem_context = enc + recipient.public_bytes_raw()
    shared = _labeled_expand(kem_suite, eae_prk, b"shared_secret", kem_context, 32)
    return shared, enc


def key_schedule(shared_secret, info, aead_id):
    """Base-mode KeySchedule; returns (key, base nonce)."""
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


def seal_with_ephemeral(plaintext, recipient, info, ephemeral, aad=b"", aead_id=AEAD_AES_256_GCM):
    """Single-shot SealBase with ``ephemeral`` as the sender's key: ``enc || ciphertext``."""
    shared, enc = encap(recipient, ephemeral)
    key, nonce = key_schedule(shared, info, aead_id)
    return enc + AESGCM(key).encrypt(nonce, bytes(plaintext), aad or None)


def sealer(ephemeral):
    """An ``hpke.seal`` look-alike that always uses ``ephemeral``."""
    def seal(plaintext, recipient, info):
        return seal_with_ephemeral(plaintext, recipient, info, ephemeral)

    return seal


def envelope_with_ephemeral(plaintext, recipient, ephemeral, *, kind, tip_id, part=""):
    """``envelope.seal`` with a fixed ephemeral key: the same bytes on every run."""
    return envelope._seal_with(sealer(ephemeral), plaintext, recipient,
                               kind=kind, tip_id=tip_id, part=part)


def stream_encryptor(out, recipient, *, kind, tip_id, part="", payload_key, ephemeral):
    """``stream.StreamEncryptor`` with a fixed payload key and ephemeral key."""
    return stream.StreamEncryptor._from_parts(out, recipient, kind=kind, tip_id=tip_id, part=part,
                                              payload_key=payload_key, hpke_seal=sealer(ephemeral))
