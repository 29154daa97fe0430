"""The audit log's hash chain and its authentication (officer/audit.py).

Each entry's hash covers the previous entry's hash, so an entry changed,
removed or moved breaks every link after it. Each entry and the chain's head
also carry an HMAC under a key derived from the unit's private keys: someone
who can write the workstation's disk but does not hold the unit key cannot
rebuild a chain that verifies (docs/protocol.md section 17).
"""

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipdrop.crypto import canonical, keys
from tipdrop.errors import CryptoError

#: The "previous hash" of the first entry.
GENESIS = bytes(32)


class ChainMacError(CryptoError):
    """The audit log's authentication does not match: it was changed without the unit key."""


def audit_key(private: keys.UnitPrivateKey) -> bytes:
    """The HMAC key of the audit log, from one unit key (HKDF-SHA256, no salt)."""
    secret = private.x25519.private_bytes_raw() + private.ed25519.private_bytes_raw()
    return HKDF(hashes.SHA256(), 32, None, b"tipdrop/v1/audit/mac-key").derive(secret)


def entry_hash(prev: bytes, seq: int, time: str, officer: str, action: str, tip: str,
               info: str, key_id: str) -> bytes:
    """SHA-256 of one entry's fields and the previous entry's hash."""
    if len(prev) != 32:
        raise ValueError("the previous hash is 32 bytes")
    return hashlib.sha256(canonical.encode("tipdrop/v1/audit-entry", prev, seq, time, officer,
                                           action, tip, info, key_id)).digest()


def _mac(key: bytes, data: bytes) -> hmac.HMAC:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac


def entry_mac(key: bytes, unit: str, digest: bytes) -> bytes:
    """The HMAC of one entry's hash."""
    return _mac(key, canonical.encode("tipdrop/v1/audit-entry-mac", unit, digest)).finalize()


def head_mac(key: bytes, unit: str, seq: int, digest: bytes) -> bytes:
    """The HMAC of the chain's head: the number and hash of its last entry."""
    return _mac(key, canonical.encode("tipdrop/v1/audit-head", unit, seq, digest)).finalize()


def check_entry_mac(key: bytes, unit: str, digest: bytes, mac: bytes) -> None:
    """Raise ChainMacError unless ``mac`` is the entry's HMAC (constant time)."""
    try:
        _mac(key, canonical.encode("tipdrop/v1/audit-entry-mac", unit, digest)).verify(mac)
    except InvalidSignature:
        raise ChainMacError() from None


def check_head_mac(key: bytes, unit: str, seq: int, digest: bytes, mac: bytes) -> None:
    """Raise ChainMacError unless ``mac`` is the head's HMAC (constant time)."""
    try:
        _mac(key, canonical.encode("tipdrop/v1/audit-head", unit, seq, digest)).verify(mac)
    except InvalidSignature:
        raise ChainMacError() from None
