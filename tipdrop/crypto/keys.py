"""Unit key pairs, key ids, and their files.

A police unit holds two key pairs: X25519 (tips are encrypted to it) and
Ed25519 (it signs replies and status changes). Both are named by one *key id*
derived from the unit name and both public keys, so a public key file whose
unit or keys were edited no longer matches its id, and every ciphertext can
say which key it was made for (units rotate keys; old keys open old tips).

Public key files go to the server's ``keys/`` folder. Private key files stay
on the officers' workstation, encrypted under a passphrase with Argon2id and
AES-256-GCM; the header (unit, key id, KDF parameters) is the AEAD's
associated data, so editing any of it makes the file fail to open.
"""

import base64
import datetime
import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tipdrop.crypto import canonical, kdf
from tipdrop.errors import (
    InputError,
    KeyFileError,
    KeyOrderError,
    WrongKeyError,
    WrongPassphraseError,
)

KEY_ID_LEN = 16
PUBLIC_KIND = "unit-public-key"
PRIVATE_KIND = "unit-private-key"
UNIT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
#: A day, or a UTC second: ISO 8601 strings of either form sort by time.
CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)?")
MAX_KEY_FILE = 64 * 1024

#: A key file's JSON object, as parsed: its values are checked field by field.
KeyDoc: TypeAlias = dict[str, Any]


def check_unit_name(unit: object) -> str:
    """Unit names end up in file names and routing config: keep them plain."""
    # fullmatch: with match(), "$" also matches before a trailing newline.
    if not isinstance(unit, str) or not UNIT_NAME.fullmatch(unit):
        raise InputError(
            "unit names are 1-32 characters: lowercase letters, digits and '-'"
        )
    return unit


def fingerprint(unit: str, x25519_raw: bytes, ed25519_raw: bytes) -> bytes:
    """SHA-256 over the unit name and both public keys: what people compare."""
    data = canonical.encode("tipdrop/v1/key-id", unit, x25519_raw, ed25519_raw)
    return hashlib.sha256(data).digest()


def format_fingerprint(digest: bytes) -> str:
    """Upper-case hex in groups of four, for reading aloud during a key ceremony."""
    text = digest.hex().upper()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@dataclass(frozen=True)
class Recipient:
    """What sealing needs: an X25519 public key and the id ciphertexts name."""

    key_id: bytes
    x25519: X25519PublicKey


@dataclass(frozen=True)
class Opener:
    """What opening needs: the X25519 private key and its key id."""

    key_id: bytes
    x25519: X25519PrivateKey
    label: str = ""

    def __repr__(self) -> str:
        return f"Opener(key_id={self.key_id.hex()}, <private>)"

    def require(self, key_id: bytes | bytearray) -> None:
        """Raise WrongKeyError unless a ciphertext for ``key_id`` is ours."""
        if not secrets.compare_digest(bytes(key_id), self.key_id):
            who = f" ({self.label})" if self.label else ""
            raise WrongKeyError(
                f"it was made for key {bytes(key_id).hex()}, "
                f"this key is {self.key_id.hex()}{who}"
            )


def reply_recipient(reply_public_raw: bytes | bytearray) -> Recipient:
    """A reporter's reply key as a recipient; its key id has no unit and no signing key."""
    public = X25519PublicKey.from_public_bytes(bytes(reply_public_raw))
    key_id = fingerprint("", bytes(reply_public_raw), b"")[:KEY_ID_LEN]
    return Recipient(key_id, public)


#: Curve25519's prime.
_P = 2**255 - 19
#: The u-coordinates of the points of small order on Curve25519 and its
#: twist, with their encodings at or above p: 0 (order 2), 1 (order 4), the
#: two of order 8, p - 1 (order 4 on the twist), p and p + 1 (0 and 1 again).
#: From https://cr.yp.to/ecdh.html ("Which Curve25519 public keys are
#: invalid?"), the list libsodium refuses as well.
_SMALL_ORDER_U = frozenset((
    0, 1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    _P - 1, _P, _P + 1,
))


def usable_reply_public(raw: bytes | bytearray) -> bool:
    """Whether replies can be sealed to the X25519 public key ``raw``.

    A low-order point (32 zero bytes, and a few others) gives an all-zero
    shared secret, which the library refuses when sealing: a stranger who
    stored such a key would make the unit unable to answer that report.

    Checked by looking the point up among those few, not by an exchange
    with a throwaway key: the same answer (X25519 ignores the top bit of
    the encoding, and a clamped scalar, a multiple of 8 below the order of
    the large subgroup, sends exactly the points of order 1, 2, 4 or 8 to
    zero; tests/crypto/test_keys.py compares the two), without an X25519
    exchange per key, which cost an import of a bundle as much as opening
    the report itself (bench/officer_import.py). Sealing still goes
    through the library, which refuses an all-zero secret on its own.
    """
    if len(raw) != 32:
        return False
    u = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    return u not in _SMALL_ORDER_U


def reply_opener(reply_key: X25519PrivateKey) -> Opener:
    """The opener for a reply key derived from a receipt (see kdf.receipt_keys)."""
    raw = reply_key.public_key().public_bytes_raw()
    return Opener(fingerprint("", raw, b"")[:KEY_ID_LEN], reply_key, "reply key")


@dataclass(frozen=True)
class UnitPublicKey:
    unit: str
    x25519: X25519PublicKey
    ed25519: Ed25519PublicKey
    created: str

    @property
    def fingerprint(self) -> bytes:
        return fingerprint(
            self.unit, self.x25519.public_bytes_raw(), self.ed25519.public_bytes_raw()
        )

    @property
    def key_id(self) -> bytes:
        return self.fingerprint[:KEY_ID_LEN]

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.key_id, self.x25519)

    def as_document(self) -> dict[str, str | int]:
        """The public key file's JSON object (also served by the API at /api/v1/keys)."""
        return {
            "tipdrop": PUBLIC_KIND,
            "version": canonical.FORMAT_VERSION,
            "unit": self.unit,
            "created": self.created,
            "key_id": self.key_id.hex(),
            "x25519": _b64(self.x25519.public_bytes_raw()),
            "ed25519": _b64(self.ed25519.public_bytes_raw()),
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.as_document(), indent=2) + "\n").encode("ascii")


@dataclass(frozen=True)
class UnitPrivateKey:
    unit: str
    x25519: X25519PrivateKey
    ed25519: Ed25519PrivateKey
    created: str

    def __repr__(self) -> str:
        return f"UnitPrivateKey(unit={self.unit!r}, key_id={self.key_id.hex()}, <private>)"

    @property
    def public(self) -> UnitPublicKey:
        return UnitPublicKey(
            self.unit, self.x25519.public_key(), self.ed25519.public_key(), self.created
        )

    @property
    def key_id(self) -> bytes:
        return self.public.key_id

    @property
    def opener(self) -> Opener:
        return Opener(self.key_id, self.x25519, f"unit {self.unit}")


def newest(public_keys: Iterable[UnitPublicKey]) -> UnitPublicKey:
    """The newest of one unit's keys, by ``created``; KeyOrderError on a tie.

    A key made without a time (a day only) counts as older than one made at
    any time of that day. Two keys with the very same ``created`` cannot be
    ordered: refuse rather than pick one silently.
    """
    ordered = sorted(public_keys, key=lambda k: k.created)
    if len(ordered) > 1 and ordered[-1].created == ordered[-2].created:
        raise KeyOrderError(
            f"unit {ordered[-1].unit}: keys {ordered[-2].key_id.hex()[:8]} and "
            f"{ordered[-1].key_id.hex()[:8]} were both created {ordered[-1].created}"
        )
    return ordered[-1]


def now_created(clock: datetime.datetime | None = None) -> str:
    """``created`` for a key made now: the UTC second, so same-day rotations order."""
    moment = clock or datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(unit: str, created: str | None = None) -> UnitPrivateKey:
    """A fresh unit key pair; ``created`` is a coarse date string (default today, UTC)."""
    check_unit_name(unit)
    if created is None:
        created = datetime.datetime.now(datetime.UTC).date().isoformat()
    return UnitPrivateKey(
        unit, X25519PrivateKey.generate(), Ed25519PrivateKey.generate(), created
    )


# --- files ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, length: int | None, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyFileError(f"{what} is not valid base64")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, AttributeError, UnicodeEncodeError):
        raise KeyFileError(f"{what} is not valid base64") from None
    if length is not None and len(data) != length:
        raise KeyFileError(f"{what} has the wrong length")
    return data


def _load_doc(data: bytes, kind: str, version: int = canonical.FORMAT_VERSION) -> KeyDoc:
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError("file is far too large to be a key")
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad JSON and over-long integer literals;
        # RecursionError comes from deeply nested arrays ("[[[[...").
        raise KeyFileError() from None
    if not isinstance(doc, dict) or doc.get("tipdrop") not in (PUBLIC_KIND, PRIVATE_KIND):
        raise KeyFileError()
    if doc["tipdrop"] != kind:
        wanted = "public" if kind == PUBLIC_KIND else "private"
        raise KeyFileError(f"this is not a {wanted} key file")
    # type() check: JSON true and 1.0 compare equal to 1 but cannot be encoded
    # into the private file's associated data.
    found = doc.get("version")
    if type(found) is not int or found != version:
        raise KeyFileError(f"unsupported key file version {doc.get('version')!r}")
    for field in ("unit", "created", "key_id"):
        if not isinstance(doc.get(field), str):
            raise KeyFileError(f"missing field {field!r}")
    try:
        check_unit_name(doc["unit"])
    except InputError:
        raise KeyFileError("invalid unit name") from None
    if not CREATED.fullmatch(doc["created"]):
        raise KeyFileError("invalid 'created' (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)")
    return doc


def _public_from_doc(doc: KeyDoc, where: KeyDoc) -> UnitPublicKey:
    x_raw = _unb64(where.get("x25519"), 32, "x25519 key")
    ed_raw = _unb64(where.get("ed25519"), 32, "ed25519 key")
    public = UnitPublicKey(
        doc["unit"],
        X25519PublicKey.from_public_bytes(x_raw),
        Ed25519PublicKey.from_public_bytes(ed_raw),
        doc["created"],
    )
    if public.key_id.hex() != doc["key_id"]:
        raise KeyFileError("the key id does not match the keys: the file was changed")
    return public


def parse_public(data: bytes) -> UnitPublicKey:
    """Parse a ``.pub`` file's bytes into a UnitPublicKey."""
    doc = _load_doc(data, PUBLIC_KIND)
    return _public_from_doc(doc, doc)


def looks_private(data: bytes) -> bool:
    """True if ``data`` holds private key material of any kind we know of.

    The server refuses to start when its keys folder holds such a file.
    """
    markers = (
        b'"' + PRIVATE_KIND.encode() + b'"',
        b"PRIVATE KEY-----",
        b"BEGIN OPENSSH PRIVATE KEY",
        b"BEGIN PGP PRIVATE KEY",
        b"AGE-SECRET-KEY-",
        b"\"backup-private-key\"",
    )
    return any(marker in data for marker in markers)


def _normalise_passphrase(passphrase: str | bytes) -> bytes:
    if isinstance(passphrase, str):
        try:
            passphrase = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("the passphrase is not valid UTF-8 text") from None
    if not isinstance(passphrase, bytes):
        raise TypeError("passphrase must be str or bytes")
    return passphrase


def _private_aad(doc: KeyDoc) -> bytes:
    kdf_doc = doc["kdf"]
    return canonical.encode(
        "tipdrop/v1/private-key",
        doc["version"],
        doc["unit"],
        doc["created"],
        doc["key_id"],
        doc["public"]["x25519"],
        doc["public"]["ed25519"],
        kdf_doc["name"],
        kdf_doc["salt"],
        kdf_doc["time_cost"],
        kdf_doc["memory_cost_kib"],
        kdf_doc["parallelism"],
        doc["aead"],
        doc["nonce"],
    )


def private_to_file(private: UnitPrivateKey, passphrase: str | bytes,
                    params: kdf.Argon2Params = kdf.KEY_FILE_PARAMS) -> bytes:
    """Serialise ``private`` encrypted under ``passphrase`` (never empty)."""
    return _private_to_file(private, passphrase, params,
                            salt=secrets.token_bytes(kdf.SALT_LEN), nonce=secrets.token_bytes(12))


def _private_to_file(private: UnitPrivateKey, passphrase: str | bytes, params: kdf.Argon2Params,
                     *, salt: bytes, nonce: bytes) -> bytes:
    """:func:`private_to_file` with the salt and nonce given: for known-answer vectors."""
    secret_phrase = _normalise_passphrase(passphrase)
    if not secret_phrase:
        raise InputError("the passphrase must not be empty")
    public = private.public
    doc: KeyDoc = {
        "tipdrop": PRIVATE_KIND,
        "version": canonical.FORMAT_VERSION,
        "unit": private.unit,
        "created": private.created,
        "key_id": public.key_id.hex(),
        "public": {
            "x25519": _b64(public.x25519.public_bytes_raw()),
            "ed25519": _b64(public.ed25519.public_bytes_raw()),
        },
        "kdf": {"name": "argon2id", "salt": _b64(salt), **params.as_dict()},
        "aead": "aes-256-gcm",
        "nonce": _b64(nonce),
    }
    key = kdf.key_file_wrapping_key(secret_phrase, salt, params)
    secret = private.x25519.private_bytes_raw() + private.ed25519.private_bytes_raw()
    doc["ciphertext"] = _b64(AESGCM(key).encrypt(nonce, secret, _private_aad(doc)))
    return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def _private_doc(data: bytes) -> tuple[KeyDoc, UnitPublicKey]:
    doc = _load_doc(data, PRIVATE_KIND)
    if not isinstance(doc.get("public"), dict) or not isinstance(doc.get("kdf"), dict):
        raise KeyFileError("missing public keys or KDF parameters")
    return doc, _public_from_doc(doc, doc["public"])


def parse_private_public_part(data: bytes) -> UnitPublicKey:
    """The public keys named in a ``.key`` file, without unlocking it.

    Only the key id check protects these before the passphrase is given;
    :func:`parse_private` authenticates them.
    """
    return _private_doc(data)[1]


def parse_private(data: bytes, passphrase: str | bytes) -> UnitPrivateKey:
    """Decrypt a ``.key`` file; WrongPassphraseError if it does not open."""
    doc, public = _private_doc(data)
    kdf_doc = doc["kdf"]
    if kdf_doc.get("name") != "argon2id" or doc.get("aead") != "aes-256-gcm":
        raise KeyFileError("unsupported KDF or cipher")
    try:
        params = kdf.Argon2Params(
            kdf_doc.get("time_cost"), kdf_doc.get("memory_cost_kib"), kdf_doc.get("parallelism")
        )
    except Exception:
        raise KeyFileError("invalid KDF parameters") from None
    salt = _unb64(kdf_doc.get("salt"), kdf.SALT_LEN, "salt")
    nonce = _unb64(doc.get("nonce"), 12, "nonce")
    ciphertext = _unb64(doc.get("ciphertext"), 64 + 16, "ciphertext")
    key = kdf.key_file_wrapping_key(_normalise_passphrase(passphrase), salt, params)
    try:
        secret = AESGCM(key).decrypt(nonce, ciphertext, _private_aad(doc))
    except InvalidTag:
        raise WrongPassphraseError() from None
    private = UnitPrivateKey(
        doc["unit"],
        X25519PrivateKey.from_private_bytes(secret[:32]),
        Ed25519PrivateKey.from_private_bytes(secret[32:]),
        doc["created"],
    )
    if private.public.fingerprint != public.fingerprint:
        raise KeyFileError("private keys do not match the public keys in the file")
    return private
