"""Key ceremony: make a unit's key pair, describe and unlock key files, manage their slots."""

from dataclasses import dataclass
from pathlib import Path

from tipdrop.common.files import atomic_write
from tipdrop.crypto import kdf, keys, keyslots, shares
from tipdrop.errors import InputError, KeyFileError

#: Read from the environment only when a command needs it, never stored.
#: The new passphrase of `tipdrop officer team add`, `passwd` and `key-restore`.
NEW_PASSPHRASE_ENV = "TIPDROP_NEW_PASSPHRASE"  # noqa: S105 (a variable name)
#: The officer's unlock slot in the key file (`--officer`).
OFFICER_ENV = "TIPDROP_OFFICER"


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
            return "private", keyslots.public_part(data)
        except KeyFileError:
            raise public_error from None


def describe_private(path):
    """The public part of a ``.key`` file, without a passphrase; refuse ``.pub`` files."""
    kind, public = describe(path)
    if kind != "private":
        raise InputError(f"{path} is a public key; --key needs the unit's private key (.key)")
    return public


def unlock(path, passphrase, officer=None) -> keys.UnitPrivateKey:
    """Load and decrypt a private key file with the slot ``officer`` (or any slot)."""
    return open_slot(path, passphrase, officer).private


def open_slot(path, passphrase, officer=None) -> keyslots.Unlocked:
    """Like :func:`unlock`, and say which slot opened the file (the audit names it)."""
    try:
        return keyslots.unlock(read_key_file(path), passphrase, officer)
    except keyslots.SlotError as e:
        raise keyslots.SlotError(f"{path}: {e.message}") from None


def slot_names(path) -> list[str]:
    """The unlock slots of a key file, without a passphrase."""
    return keyslots.slot_names(read_key_file(path))


def key_files(path) -> list[Path]:
    """The ``.key`` files ``--key`` names: one file, or every one in a folder."""
    path = Path(path)
    files = sorted(path.glob("*.key")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path} holds no .key file")
    return files


def _rewrite(changes):
    """Replace each file by its new bytes; all were computed before the first is written.

    Each file is replaced atomically (a crash leaves the old or the new
    file, never half of one); computing every new file first means a
    wrong passphrase or a taken name in the third file changes none.
    """
    for path, data in changes:
        atomic_write(path, data, mode=0o600, overwrite=True)


def check_new_member(path, name) -> None:
    """Refuse a slot name that is invalid or taken in every key file, before any prompt."""
    keyslots.check_slot_name(name)
    taken = [file for file in key_files(path) if name in slot_names(file)]
    if taken and len(taken) == len(key_files(path)):
        raise keyslots.SlotError(f"slot {name!r} already exists")


def add_member(path, passphrase, officer, name, new_passphrase,
               params=kdf.KEY_FILE_PARAMS) -> list[Path]:
    """Give officer ``name`` a slot in every key file of ``path``; return the files changed.

    The files are unlocked with ``passphrase`` (the slot ``officer``, or any):
    only someone who can already unlock the key can let another person in.
    Files that already have a slot ``name`` are left as they are.
    """
    check_new_member(path, name)
    changes = []
    for file in key_files(path):
        data = read_key_file(file)
        if name in keyslots.slot_names(data):  # e.g. a key made after NAME joined
            continue
        unlocked = open_slot(file, passphrase, officer)
        changes.append((file, keyslots.add_slot(data, unlocked, name, new_passphrase, params,
                                                legacy_passphrase=passphrase)))
    _rewrite(changes)
    return [file for file, _ in changes]


def remove_member(path, passphrase, officer, name) -> list[Path]:
    """Remove officer ``name``'s slot from every key file of ``path`` that has it.

    Needs a passphrase of the unit (any slot, even the one removed): a
    stranger with write access to the folder could delete the file anyway,
    but the command is not how to do it. Refused if it is a file's last slot.
    """
    changes = []
    for file in key_files(path):
        open_slot(file, passphrase, officer)
        data = read_key_file(file)
        if name in keyslots.slot_names(data):
            changes.append((file, keyslots.remove_slot(data, name)))
    if not changes:
        raise keyslots.SlotError(f"no key file in {path} has a slot named {name!r}")
    _rewrite(changes)
    return [file for file, _ in changes]


def change_passphrase(path, passphrase, officer, new_passphrase,
                      params=kdf.KEY_FILE_PARAMS) -> tuple[str, list[Path]]:
    """Wrap the slot that ``passphrase`` opens under ``new_passphrase`` in every key file.

    Returns the slot's name and the files changed. Every file must open
    with the same slot, so one officer never ends up with two passphrases.
    """
    changes = []
    for file in key_files(path):
        unlocked = open_slot(file, passphrase, officer)
        officer = unlocked.slot
        changes.append((file, keyslots.replace_slot(read_key_file(file), unlocked,
                                                    new_passphrase, params)))
    _rewrite(changes)
    return officer, [file for file, _ in changes]


def backup_shares(path, passphrase, officer, count, threshold):
    """(public key, SLIP-39 word shares) of the one key file ``path``."""
    if Path(path).is_dir():
        raise InputError(f"{path} is a folder: back up each key file on its own "
                         "(--key FOLDER/UNIT-xxxxxxxx.key)")
    private = unlock(path, passphrase, officer)
    return private.public, shares.split(private, count, threshold)


def rebuild_from_shares(public_path, mnemonics, out, officer) -> keys.UnitPrivateKey:
    """The unit key that ``mnemonics`` rebuild, checked against ``public_path``.

    Everything that can be wrong is checked here, before anyone is asked
    for a new passphrase: the shares, the public key, ``out`` and the slot name.
    """
    kind, public = describe(public_path)
    if kind != "public":
        raise InputError(f"{public_path} is a private key; --public needs the unit's .pub file")
    if Path(out).exists():
        raise InputError(f"{out} already exists; refusing to overwrite a key")
    keyslots.check_slot_name(officer)
    return shares.rebuild(public, mnemonics)


def write_restored(private, out, officer, passphrase, params=kdf.KEY_FILE_PARAMS) -> None:
    """Write a rebuilt key as a new key file with one slot, ``officer``; never overwrite."""
    data = keyslots.to_file(private, officer, passphrase, params)
    Path(out).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        atomic_write(out, data, mode=0o600)
    except FileExistsError:
        raise InputError(f"{out} already exists; refusing to overwrite a key") from None
