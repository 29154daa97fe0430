"""Key ceremony: make a unit's key pair, describe and unlock key files."""

from dataclasses import dataclass
from pathlib import Path

from ..crypto import kdf, keys
from ..errors import InputError, KeyFileError
from ..files import atomic_write


@dataclass(frozen=True)
class CreatedKey:
    public: keys.UnitPublicKey
    private_path: Path
    public_path: Path


def create_unit_key(unit, out_dir, passphrase, params=kdf.KEY_FILE_PARAMS, rotate=False):
    """Generate a key pair for ``unit`` and write ``UNIT.key`` and ``UNIT.pub``.

    With ``rotate`` (a unit's next key) the files are ``UNIT-<key id, 8 hex
    digits>.key/.pub``, so they sit beside the earlier ones. Existing files
    are never overwritten: losing a private key makes every tip encrypted to
    it unreadable.
    """
    keys.check_unit_name(unit)
    out_dir = Path(out_dir)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = keys.generate(unit, keys.now_created())
    stem = f"{unit}-{private.key_id.hex()[:8]}" if rotate else unit
    private_path = out_dir / f"{stem}.key"
    public_path = out_dir / f"{stem}.pub"
    for path in (private_path, public_path):
        if path.exists():
            hint = "" if rotate else " (to add a new key for the unit, use --rotate)"
            raise InputError(f"{path} already exists; refusing to overwrite a key{hint}")
    key_file = keys.private_to_file(private, passphrase, params)
    atomic_write(private_path, key_file, mode=0o600)
    try:
        atomic_write(public_path, private.public.to_json(), mode=0o644)
    except BaseException:
        private_path.unlink()
        raise
    return CreatedKey(private.public, private_path, public_path)


def read_key_file(path):
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a key file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None


def describe(path):
    """Return (kind, UnitPublicKey) for a .pub or .key file, without a passphrase."""
    data = read_key_file(path)
    try:
        return "public", keys.parse_public(data)
    except KeyFileError as public_error:
        try:
            return "private", keys.parse_private_public_part(data)
        except KeyFileError:
            raise public_error from None


def describe_private(path):
    """The public part of a ``.key`` file, without a passphrase; refuse ``.pub`` files."""
    kind, public = describe(path)
    if kind != "private":
        raise InputError(f"{path} is a public key; --key needs the unit's private key (.key)")
    return public


def unlock(path, passphrase):
    """Load and decrypt a private key file."""
    return keys.parse_private(read_key_file(path), passphrase)
