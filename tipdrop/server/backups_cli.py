"""The key files behind `tipdrop backup-keygen`, `backup` and `restore` (tipdrop.server.backup)."""

from pathlib import Path

from tipdrop.common.files import atomic_write
from tipdrop.crypto import backupkey
from tipdrop.errors import KeyFileError, UsageError
from tipdrop.server.backup import NoBackupKeyError

PRIVATE_NAME = "backup.key"
PUBLIC_NAME = "backup.pub"


def make_backup_key(out_dir: str | Path, passphrase: str) -> tuple[str, Path, Path]:
    """Write a new backup key pair into ``out_dir``; (key id, private path, public path).

    Refuses to replace an existing pair: backups sealed to it would become unreadable.
    """
    folder = Path(out_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} already exists; backups sealed to it need it: "
                             "choose another folder")
    private = backupkey.generate()
    data = backupkey.private_to_file(private, passphrase)
    atomic_write(private_path, data, mode=0o600)
    try:
        atomic_write(public_path, private.public.to_json(), mode=0o644)
    except BaseException:
        private_path.unlink()
        raise
    return private.public.key_id.hex(), private_path, public_path


def load_backup_public(path: Path | None) -> backupkey.BackupPublicKey:
    if path is None:
        raise NoBackupKeyError()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NoBackupKeyError(f"{path} does not exist") from None
    try:
        return backupkey.parse_public(data)
    except KeyFileError as e:
        raise KeyFileError(f"{path}: {e.detail or 'not a backup key file'}") from None


def unlock_backup_key(path: str | Path, passphrase: str) -> backupkey.BackupPrivateKey:
    data = Path(path).read_bytes()
    try:
        return backupkey.parse_private(data, passphrase)
    except KeyFileError as e:
        raise KeyFileError(f"{path}: {e.detail or 'not a backup key file'}") from None
