"""Key files with named unlock slots: one unit key, one passphrase per officer.

A version 1 key file (keys.py) wraps the unit's private keys under one
passphrase the whole unit shares: nobody can leave the unit without everyone
learning a new passphrase, and nobody can say who unlocked. A version 2 file
holds the same header and a list of *slots*; each slot wraps the same private
keys under one officer's passphrase (Argon2id, HKDF, AES-256-GCM), with the
slot's name, the unit, the key id and the public keys as associated data, so
a slot copied into another file or renamed no longer opens
(docs/protocol.md section 6, "Key files with slots").

Version 1 files still open: they count as one slot named ``shared``.
"""

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tipdrop.crypto import canonical, kdf, keys
from tipdrop.errors import InputError, KeyFileError, WrongPassphraseError

SLOTS_VERSION = 2
#: The name a version 1 (single passphrase) file's one passphrase goes by.
LEGACY_SLOT = "shared"
SLOT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
MAX_SLOTS = 64
_SECRET_LEN = 64


class SlotError(InputError):
    """That unlock slot cannot be used."""


def check_slot_name(name: object) -> str:
    """Slot names are printed in audit logs and typed by people: keep them plain."""
    if not isinstance(name, str) or not SLOT_NAME.fullmatch(name):
        raise SlotError("slot names are 1-32 characters: lowercase letters, digits, "
                        "'.', '_' and '-', starting with a letter or digit")
    return name


@dataclass(frozen=True)
class Unlocked:
    """A private key and the name of the slot whose passphrase opened it."""

    private: keys.UnitPrivateKey
    slot: str

    def __repr__(self) -> str:
        return f"Unlocked(slot={self.slot!r}, {self.private!r})"


def version_of(data: bytes) -> int:
    """The version a private key file claims (1 or 2); KeyFileError for anything else."""
    if len(data) > keys.MAX_KEY_FILE:
        raise KeyFileError("file is far too large to be a key")
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError):
        raise KeyFileError() from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if type(version) is int and version in (canonical.FORMAT_VERSION, SLOTS_VERSION):
        return version
    return canonical.FORMAT_VERSION  # let the version 1 reader give its precise error


def _doc(data: bytes) -> tuple[dict[str, Any], keys.UnitPublicKey]:
    doc = keys._load_doc(data, keys.PRIVATE_KIND, version=SLOTS_VERSION)
    if not isinstance(doc.get("public"), dict):
        raise KeyFileError("missing public keys")
    public = keys._public_from_doc(doc, doc["public"])
    slots = doc.get("slots")
    if not isinstance(slots, list) or not 1 <= len(slots) <= MAX_SLOTS:
        raise KeyFileError(f"a key file holds 1 to {MAX_SLOTS} slots")
    names = []
    for slot in slots:
        if not isinstance(slot, dict) or not isinstance(slot.get("kdf"), dict):
            raise KeyFileError("a slot is not an object with KDF parameters")
        try:
            names.append(check_slot_name(slot.get("name")))
        except SlotError:
            raise KeyFileError("a slot has an invalid name") from None
    if len(set(names)) != len(names):
        raise KeyFileError("two slots have the same name")
    return doc, public


def public_part(data: bytes) -> keys.UnitPublicKey:
    """The public keys a ``.key`` file of either version names, without unlocking it."""
    if version_of(data) == SLOTS_VERSION:
        return _doc(data)[1]
    return keys.parse_private_public_part(data)


def slot_names(data: bytes) -> list[str]:
    """The names of a key file's slots, in file order (``shared`` for a version 1 file)."""
    if version_of(data) == SLOTS_VERSION:
        return [slot["name"] for slot in _doc(data)[0]["slots"]]
    keys.parse_private_public_part(data)
    return [LEGACY_SLOT]


def _slot_aad(doc: dict[str, Any], slot: dict[str, Any]) -> bytes:
    k = slot["kdf"]
    return canonical.encode(
        "tipdrop/v2/key-slot", doc["version"], doc["unit"], doc["created"], doc["key_id"],
        doc["public"]["x25519"], doc["public"]["ed25519"], slot["name"],
        k["name"], k["salt"], k["time_cost"], k["memory_cost_kib"], k["parallelism"],
        slot["aead"], slot["nonce"])


def _make_slot(doc: dict[str, Any], private: keys.UnitPrivateKey, name: str,
               passphrase: str | bytes, params: kdf.Argon2Params, *, salt: bytes,
               nonce: bytes) -> dict[str, Any]:
    secret = keys._normalise_passphrase(passphrase)
    if not secret:
        raise InputError("the passphrase must not be empty")
    slot = {"name": check_slot_name(name),
            "kdf": {"name": "argon2id", "salt": keys._b64(salt), **params.as_dict()},
            "aead": "aes-256-gcm", "nonce": keys._b64(nonce)}
    wrap = kdf.key_slot_wrapping_key(secret, salt, params)
    raw = private.x25519.private_bytes_raw() + private.ed25519.private_bytes_raw()
    slot["ciphertext"] = keys._b64(AESGCM(wrap).encrypt(nonce, raw, _slot_aad(doc, slot)))
    return slot


def _header(private: keys.UnitPrivateKey) -> dict[str, Any]:
    public = private.public
    return {"tipdrop": keys.PRIVATE_KIND, "version": SLOTS_VERSION, "unit": private.unit,
            "created": private.created, "key_id": public.key_id.hex(),
            "public": {"x25519": keys._b64(public.x25519.public_bytes_raw()),
                       "ed25519": keys._b64(public.ed25519.public_bytes_raw())},
            "slots": []}


def _dump(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def _fresh() -> dict[str, bytes]:
    return {"salt": secrets.token_bytes(kdf.SALT_LEN), "nonce": secrets.token_bytes(12)}


def to_file(private: keys.UnitPrivateKey, name: str, passphrase: str | bytes,
            params: kdf.Argon2Params = kdf.KEY_FILE_PARAMS) -> bytes:
    """A version 2 key file with one slot, ``name``."""
    return _to_file(private, [(name, passphrase, params, _fresh())])


def _to_file(private: keys.UnitPrivateKey,
             slots: list[tuple[str, str | bytes, kdf.Argon2Params, dict[str, bytes]]]) -> bytes:
    """:func:`to_file` with each slot's salt and nonce given: for known-answer vectors."""
    doc = _header(private)
    for name, passphrase, params, fixed in slots:
        doc["slots"].append(_make_slot(doc, private, name, passphrase, params, **fixed))
    return _dump(doc)


def _as_slotted(data: bytes, unlocked: Unlocked) -> dict[str, Any]:
    """``data`` as a version 2 document; a version 1 file is converted (not yet wrapped)."""
    if version_of(data) == SLOTS_VERSION:
        doc, public = _doc(data)
        if public.fingerprint != unlocked.private.public.fingerprint:
            raise KeyFileError("the unlocked key is not this file's key")
        return doc
    return _header(unlocked.private)


def add_slot(data: bytes, unlocked: Unlocked, name: str, passphrase: str | bytes,
             params: kdf.Argon2Params = kdf.KEY_FILE_PARAMS,
             legacy_passphrase: str | bytes | None = None) -> bytes:
    """``data`` with a new slot ``name``; SlotError if that name is taken.

    A version 1 file becomes a version 2 file: its one passphrase (given as
    ``legacy_passphrase``) becomes the slot ``shared``, so nobody who could
    open it before is locked out by surprise.
    """
    check_slot_name(name)
    doc = _as_slotted(data, unlocked)
    if not doc["slots"]:
        if legacy_passphrase is None:
            raise SlotError("converting a single-passphrase file needs its passphrase")
        if name == LEGACY_SLOT:
            raise SlotError(f"slot {LEGACY_SLOT!r} already exists (the file's one passphrase)")
        doc["slots"].append(_make_slot(doc, unlocked.private, LEGACY_SLOT, legacy_passphrase,
                                       params, **_fresh()))
    if name in [slot["name"] for slot in doc["slots"]]:
        raise SlotError(f"slot {name!r} already exists")
    if len(doc["slots"]) >= MAX_SLOTS:
        raise SlotError(f"a key file holds at most {MAX_SLOTS} slots")
    doc["slots"].append(_make_slot(doc, unlocked.private, name, passphrase, params, **_fresh()))
    return _dump(doc)


def remove_slot(data: bytes, name: str) -> bytes:
    """``data`` without slot ``name``; refuse to remove the last one (the key would be lost)."""
    if version_of(data) != SLOTS_VERSION:
        raise SlotError("this key file has one shared passphrase and no named slots; "
                        "add the officers' slots first (team add)")
    doc, _ = _doc(data)
    names = [slot["name"] for slot in doc["slots"]]
    if name not in names:
        raise SlotError(f"no slot named {name!r} (slots: {', '.join(names)})")
    if len(names) == 1:
        raise SlotError(f"{name!r} is the last slot: removing it would lock the key away "
                        "for good")
    doc["slots"] = [slot for slot in doc["slots"] if slot["name"] != name]
    return _dump(doc)


def replace_slot(data: bytes, unlocked: Unlocked, passphrase: str | bytes,
                 params: kdf.Argon2Params = kdf.KEY_FILE_PARAMS) -> bytes:
    """``data`` with the slot that opened it wrapped under a new passphrase.

    A version 1 file stays a version 1 file under the new passphrase.
    """
    if version_of(data) != SLOTS_VERSION:
        return keys.private_to_file(unlocked.private, passphrase, params)
    doc = _as_slotted(data, unlocked)
    doc["slots"] = [_make_slot(doc, unlocked.private, unlocked.slot, passphrase, params,
                               **_fresh()) if slot["name"] == unlocked.slot else slot
                    for slot in doc["slots"]]
    return _dump(doc)


def unlock(data: bytes, passphrase: str | bytes, name: str | None = None) -> Unlocked:
    """Open a key file of either version with the slot ``name`` (or any slot).

    Without ``name`` each slot is tried in turn (one Argon2id run each).
    WrongPassphraseError if none opens; SlotError if ``name`` is not a slot.
    """
    if version_of(data) != SLOTS_VERSION:
        if name not in (None, LEGACY_SLOT):
            raise SlotError(f"this key file has one shared passphrase, no slot {name!r}")
        return Unlocked(keys.parse_private(data, passphrase), LEGACY_SLOT)
    doc, public = _doc(data)
    slots = doc["slots"]
    if name is not None:
        slots = [slot for slot in slots if slot["name"] == name]
        if not slots:
            raise SlotError(f"no slot named {name!r} in this key file")
    secret = keys._normalise_passphrase(passphrase)
    for slot in slots:
        raw = _open_slot(doc, slot, secret)
        if raw is not None:
            return Unlocked(_private_from(doc, public, raw), slot["name"])
    raise WrongPassphraseError()


def _open_slot(doc: dict[str, Any], slot: dict[str, Any], secret: bytes) -> bytes | None:
    k = slot["kdf"]
    if k.get("name") != "argon2id" or slot.get("aead") != "aes-256-gcm":
        raise KeyFileError("unsupported KDF or cipher")
    try:
        params = kdf.Argon2Params(k.get("time_cost"), k.get("memory_cost_kib"),
                                  k.get("parallelism"))
    except Exception:
        raise KeyFileError("invalid KDF parameters") from None
    salt = keys._unb64(k.get("salt"), kdf.SALT_LEN, "salt")
    nonce = keys._unb64(slot.get("nonce"), 12, "nonce")
    ciphertext = keys._unb64(slot.get("ciphertext"), _SECRET_LEN + 16, "ciphertext")
    wrap = kdf.key_slot_wrapping_key(secret, salt, params)
    try:
        return bytes(AESGCM(wrap).decrypt(nonce, ciphertext, _slot_aad(doc, slot)))
    except InvalidTag:
        return None


def _private_from(doc: dict[str, Any], public: keys.UnitPublicKey,
                  raw: bytes) -> keys.UnitPrivateKey:
    private = keys.UnitPrivateKey(doc["unit"], X25519PrivateKey.from_private_bytes(raw[:32]),
                                  Ed25519PrivateKey.from_private_bytes(raw[32:]),
                                  doc["created"])
    if private.public.fingerprint != public.fingerprint:
        raise KeyFileError("private keys do not match the public keys in the file")
    return private
