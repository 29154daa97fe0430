"""Key derivation: Argon2id for secrets people hold, HKDF for everything after.

Two secrets come from people and must be slow to guess: the secret part of a
receipt code (on the server, once per check) and the passphrase of a unit's
private key file (on the workstation, once per command). Both go through
Argon2id once; every further key is an HKDF-Expand of that output under its
own label, so one slow run yields independent keys.
"""

from dataclasses import asdict, dataclass

import argon2.low_level
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tipdrop.errors import FormatError

SALT_LEN = 16


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters; stored beside every hash so they can be raised later."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FormatError(f"Argon2 parameter {name} must be a positive integer")
        if self.memory_cost_kib < 8 * self.parallelism:
            raise FormatError("Argon2 memory must be at least 8 KiB per lane")
        if self.memory_cost_kib > 4 * 1024 * 1024 or self.time_cost > 64:
            raise FormatError("Argon2 parameters are implausibly large")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


#: Receipt checks on the server. The secret already has 90 bits of entropy, so
#: Argon2id here is defence in depth for a stolen database, not the main
#: barrier; it is sized so that one 2-core server runs ~100 checks a second
#: (OWASP's 19 MiB / t=2 / p=1 profile; see README for the measurement).
RECEIPT_PARAMS = Argon2Params(time_cost=2, memory_cost_kib=19 * 1024, parallelism=1)

#: Private key files on the workstation: a passphrase has far less entropy than
#: a receipt, and this runs once per command, so it is made ~30x as costly.
KEY_FILE_PARAMS = Argon2Params(time_cost=3, memory_cost_kib=256 * 1024, parallelism=4)

#: Cheap parameters for unit tests only (never used by the application).
TEST_PARAMS = Argon2Params(time_cost=1, memory_cost_kib=64, parallelism=1)


def argon2id(secret: bytes | bytearray, salt: bytes | bytearray, params: Argon2Params,
             length: int = 32) -> bytes:
    """Raw Argon2id output of ``length`` bytes."""
    if not isinstance(secret, (bytes, bytearray)) or not isinstance(salt, (bytes, bytearray)):
        raise TypeError("secret and salt must be bytes")
    if len(salt) < 8:
        raise FormatError("Argon2 salt must be at least 8 bytes")
    return argon2.low_level.hash_secret_raw(
        secret=bytes(secret),
        salt=bytes(salt),
        time_cost=params.time_cost,
        memory_cost=params.memory_cost_kib,
        parallelism=params.parallelism,
        hash_len=length,
        type=argon2.low_level.Type.ID,
    )


def expand(key_material: bytes, label: str, length: int = 32) -> bytes:
    """HKDF-Expand(SHA-256) of uniform ``key_material`` under an ASCII ``label``."""
    return HKDFExpand(hashes.SHA256(), length, label.encode("ascii")).derive(
        bytes(key_material)
    )


@dataclass(frozen=True)
class ReceiptKeys:
    """What one Argon2id run over a receipt's secret yields.

    ``verifier`` is stored by the server and compared in constant time;
    ``reply_key`` opens replies encrypted to the reporter, and only its public
    half (``reply_public``) is ever stored. ``followup_key`` (derived only on
    the reporter's device, never by the server) signs the reporter's
    follow-ups; its public half travels inside the sealed report.
    """

    verifier: bytes
    reply_key: X25519PrivateKey
    followup_key: Ed25519PrivateKey | None = None

    @property
    def followup_public(self) -> bytes:
        if self.followup_key is None:
            # The same exception as reading .public_key() of None, with its reason.
            raise AttributeError("these receipt keys were derived without followup=True")
        return self.followup_key.public_key().public_bytes_raw()

    @property
    def reply_public(self) -> bytes:
        return self.reply_key.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return "ReceiptKeys(<hidden>)"


def receipt_keys(secret: bytes | bytearray, salt: bytes | bytearray, params: Argon2Params, *,
                 followup: bool = False) -> ReceiptKeys:
    """Derive the verifier and the reporter's reply key from a receipt secret.

    With ``followup`` also the key that signs the reporter's follow-ups
    (docs/protocol.md section 14). Only the reporter's device asks for it:
    the server derives what it needs to check a receipt and nothing more.
    """
    master = argon2id(secret, salt, params)
    verifier = expand(master, "tipdrop/v1/receipt/verifier")
    reply_seed = expand(master, "tipdrop/v1/receipt/reply-key")
    followup_key: Ed25519PrivateKey | None = None
    if followup:
        followup_key = Ed25519PrivateKey.from_private_bytes(
            expand(master, "tipdrop/v1/receipt/followup-key"))
    return ReceiptKeys(verifier, X25519PrivateKey.from_private_bytes(reply_seed), followup_key)


def key_file_wrapping_key(passphrase: bytes | bytearray, salt: bytes | bytearray,
                          params: Argon2Params) -> bytes:
    """The AES-256-GCM key that wraps a unit's private keys in its key file."""
    master = argon2id(passphrase, salt, params)
    return expand(master, "tipdrop/v1/key-file/wrap")


def key_slot_wrapping_key(passphrase: bytes | bytearray, salt: bytes | bytearray,
                          params: Argon2Params) -> bytes:
    """The AES-256-GCM key that wraps a unit's private keys in one named slot of a key file."""
    master = argon2id(passphrase, salt, params)
    return expand(master, "tipdrop/v2/key-file/slot-wrap")
