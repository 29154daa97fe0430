"""The operator's backup key pair: the server seals backups it can never open.

One X25519 key pair, named by a key id (docs/protocol.md section 16). The
public half is a small JSON file installed on the server (``TIPDROP_BACKUP_KEY``);
the private half is the same JSON shape as a unit's private key file
(section 6): the X25519 private key encrypted under a passphrase with
Argon2id and AES-256-GCM, every other field of the file bound in as the
associated data. It is kept offline and only brought to a machine to
restore. It is not a unit key: it opens no report, only the backup that
holds report ciphertext, and a unit key cannot open a backup.
"""

import base64
import datetime
import hashlib
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tipdrop.crypto import canonical, kdf
from tipdrop.crypto.keys import CREATED, KEY_ID_LEN, MAX_KEY_FILE, KeyDoc, Opener, Recipient
from tipdrop.errors import InputError, KeyFileError, WrongPassphraseError

PUBLIC_KIND = "backup-public-key"
PRIVATE_KIND = "backup-private-key"
_WRAP_LABEL = "tipdrop/v1/backup-key-file/wrap"


def key_id(x25519_raw: bytes) -> bytes:
    """The first 16 bytes of SHA-256 over the labelled public key."""
    return hashlib.sha256(canonical.encode("tipdrop/v1/backup-key-id", x25519_raw)).digest()[
        :KEY_ID_LEN]


@dataclass(frozen=True)
class BackupPublicKey:
    x25519: X25519PublicKey
    created: str

    @property
    def key_id(self) -> bytes:
        return key_id(self.x25519.public_bytes_raw())

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.key_id, self.x25519)

    def to_json(self) -> bytes:
        doc = {"tipdrop": PUBLIC_KIND, "version": canonical.FORMAT_VERSION,
               "created": self.created, "key_id": self.key_id.hex(),
               "x25519": _b64(self.x25519.public_bytes_raw())}
        return (json.dumps(doc, indent=2) + "\n").encode("ascii")


@dataclass(frozen=True)
class BackupPrivateKey:
    x25519: X25519PrivateKey
    created: str

    def __repr__(self) -> str:
        return f"BackupPrivateKey(key_id={self.public.key_id.hex()}, <private>)"

    @property
    def public(self) -> BackupPublicKey:
        return BackupPublicKey(self.x25519.public_key(), self.created)

    @property
    def opener(self) -> Opener:
        return Opener(self.public.key_id, self.x25519, "backup key")


def generate(clock: datetime.datetime | None = None) -> BackupPrivateKey:
    moment = clock or datetime.datetime.now(datetime.UTC)
    return BackupPrivateKey(X25519PrivateKey.generate(), moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, length: int, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyFileError(f"{what} is not valid base64")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, AttributeError, UnicodeEncodeError):
        raise KeyFileError(f"{what} is not valid base64") from None
    if len(data) != length:
        raise KeyFileError(f"{what} has the wrong length")
    return data


def _load(data: bytes, kind: str) -> tuple[KeyDoc, BackupPublicKey]:
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError("file is far too large to be a key")
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError):
        raise KeyFileError() from None
    if not isinstance(doc, dict) or doc.get("tipdrop") != kind:
        wanted = "public" if kind == PUBLIC_KIND else "private"
        raise KeyFileError(f"this is not a backup {wanted} key file")
    version = doc.get("version")
    if type(version) is not int or version != canonical.FORMAT_VERSION:
        raise KeyFileError(f"unsupported key file version {version!r}")
    for field in ("created", "key_id", "x25519"):
        if not isinstance(doc.get(field), str):
            raise KeyFileError(f"missing field {field!r}")
    if not CREATED.fullmatch(doc["created"]):
        raise KeyFileError("invalid 'created'")
    public = BackupPublicKey(
        X25519PublicKey.from_public_bytes(_unb64(doc["x25519"], 32, "x25519 key")),
        doc["created"])
    if public.key_id.hex() != doc["key_id"]:
        raise KeyFileError("the key id does not match the key: the file was changed")
    return doc, public


def parse_public(data: bytes) -> BackupPublicKey:
    """Parse a backup ``.pub`` file."""
    return _load(data, PUBLIC_KIND)[1]


def _aad(doc: KeyDoc) -> bytes:
    k = doc["kdf"]
    return canonical.encode(
        "tipdrop/v1/backup-private-key", doc["version"], doc["created"], doc["key_id"],
        doc["x25519"], k["name"], k["salt"], k["time_cost"], k["memory_cost_kib"],
        k["parallelism"], doc["aead"], doc["nonce"])


def _wrapping_key(passphrase: bytes, salt: bytes, params: kdf.Argon2Params) -> bytes:
    return kdf.expand(kdf.argon2id(passphrase, salt, params), _WRAP_LABEL)


def private_to_file(private: BackupPrivateKey, passphrase: str | bytes,
                    params: kdf.Argon2Params = kdf.KEY_FILE_PARAMS) -> bytes:
    """Serialise ``private`` encrypted under ``passphrase`` (never empty)."""
    return _private_to_file(private, passphrase, params,
                            salt=secrets.token_bytes(kdf.SALT_LEN),
                            nonce=secrets.token_bytes(12))


def _private_to_file(private: BackupPrivateKey, passphrase: str | bytes,
                     params: kdf.Argon2Params, *, salt: bytes, nonce: bytes) -> bytes:
    """:func:`private_to_file` with the salt and nonce given: for known-answer vectors."""
    from tipdrop.crypto.keys import _normalise_passphrase

    secret_phrase = _normalise_passphrase(passphrase)
    if not secret_phrase:
        raise InputError("the passphrase must not be empty")
    public = private.public
    doc: KeyDoc = {"tipdrop": PRIVATE_KIND, "version": canonical.FORMAT_VERSION,
           "created": private.created, "key_id": public.key_id.hex(),
           "x25519": _b64(public.x25519.public_bytes_raw()),
           "kdf": {"name": "argon2id", "salt": _b64(salt), **params.as_dict()},
           "aead": "aes-256-gcm", "nonce": _b64(nonce)}
    key = _wrapping_key(secret_phrase, salt, params)
    doc["ciphertext"] = _b64(AESGCM(key).encrypt(nonce, private.x25519.private_bytes_raw(),
                                                 _aad(doc)))
    return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def parse_private(data: bytes, passphrase: str | bytes) -> BackupPrivateKey:
    """Decrypt a backup ``.key`` file; WrongPassphraseError if it does not open."""
    from tipdrop.crypto.keys import _normalise_passphrase

    doc, public = _load(data, PRIVATE_KIND)
    k = doc.get("kdf")
    if not isinstance(k, dict) or k.get("name") != "argon2id" or doc.get("aead") != "aes-256-gcm":
        raise KeyFileError("unsupported KDF or cipher")
    costs = [k.get(name) for name in ("time_cost", "memory_cost_kib", "parallelism")]
    time_cost, memory_cost_kib, parallelism = costs
    if not (type(time_cost) is int and type(memory_cost_kib) is int
            and type(parallelism) is int):
        raise KeyFileError("invalid KDF parameters")
    try:
        params = kdf.Argon2Params(time_cost, memory_cost_kib, parallelism)
    except Exception:
        raise KeyFileError("invalid KDF parameters") from None
    salt = _unb64(k.get("salt"), kdf.SALT_LEN, "salt")
    nonce = _unb64(doc.get("nonce"), 12, "nonce")
    ciphertext = _unb64(doc.get("ciphertext"), 32 + 16, "ciphertext")
    key = _wrapping_key(_normalise_passphrase(passphrase), salt, params)
    try:
        secret = AESGCM(key).decrypt(nonce, ciphertext, _aad(doc))
    except InvalidTag:
        raise WrongPassphraseError() from None
    private = BackupPrivateKey(X25519PrivateKey.from_private_bytes(secret), doc["created"])
    if private.public.key_id != public.key_id:
        raise KeyFileError("the private key does not match the public key in the file")
    return private
