"""A backup of the workspace that is whole and consistent, even while the app or a command writes.

Once the unit acknowledges an export, the workspace holds the only copy of
its reports (the server's purge deletes its own), and the officer guide
says to back the workspace up. A copy of its folder made by a file manager
while the officer app runs is not a backup to count on: SQLite keeps the
latest transactions in ``workspace.db-wal`` and moves them into
``workspace.db`` at a checkpoint, so two files copied a moment apart can
miss a transaction in both, or fail to open; an import moves files into
``attachments`` and out of it meanwhile; and the audit log can grow
between the copy of the log and the copy of its head, which then does not
verify. So a backup here:

- copies the database with SQLite's own backup, one read transaction: one
  state of it, whatever commits meanwhile;
- holds the workspace's import lock (opening.one_import) while it copies,
  so the attachment files the copied rows name are all there and none is
  replaced, and copies exactly those;
- copies the audit log and its head under the log's lock, so no entry is
  appended between the two (audit.py);
- writes into a new or empty folder only, every file 0600 in folders at
  0700, each file synced before the command says it is done.

It needs no key and decrypts nothing: the copy is ciphertext, like the
workspace (docs/threat-model.md, "A lost or stolen officer laptop").
"""

import os
import shutil
import sqlite3
from pathlib import Path

from tipdrop.common.files import fsync_dir
from tipdrop.errors import InputError
from tipdrop.officer.opening import ImportRunningError, one_import

#: The unit's own files in the workspace folder, copied as they are when present.
PLAIN_FILES = ("reply-templates.json",)
DATABASE = "workspace.db"


class BackupFolderError(InputError):
    """The backup goes into a new or empty folder outside the workspace: a backup never overwrites a file."""

    detail_is_message = False


class BackupWaitsError(InputError):
    """A bundle is being opened in this workspace: make the backup once it has finished."""

    detail_is_message = False


def back_up(workspace, out) -> dict:
    """Copy ``workspace`` into the folder ``out``; return what it holds (tips, files, bytes)."""
    out = Path(out).absolute()
    source = workspace.dir.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupFolderError(str(out))
    if out.resolve() == source or source in out.resolve().parents:
        raise BackupFolderError(str(out))
    try:
        with one_import(workspace):
            out.mkdir(mode=0o700, parents=True, exist_ok=True)
            blobs = out / "attachments"
            blobs.mkdir(mode=0o700)
            (blobs / "tmp").mkdir(mode=0o700)
            names, tips = _copy_database(workspace, out / DATABASE)
            copied = 0
            for name in names:
                copied += _copy_file(workspace.blobs / name, blobs / name)
            workspace.audit.copy_to(out, _copy_file)
            for name in PLAIN_FILES:
                if (workspace.dir / name).is_file():
                    _copy_file(workspace.dir / name, out / name)
    except ImportRunningError:
        raise BackupWaitsError() from None
    for folder in (blobs / "tmp", blobs, out):
        fsync_dir(folder)
    return {"tips": tips, "attachments": len(names), "bytes": copied}


def _copy_database(workspace, target):
    """The database as of one read transaction; the attachment files its rows name."""
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
    copy = sqlite3.connect(str(target))
    try:
        workspace.db.conn.backup(copy)
        names = [name for (name,) in copy.execute("SELECT blob FROM attachments")]
        (tips,) = copy.execute("SELECT COUNT(*) FROM tips").fetchone()
        # The copy is in WAL mode like its source: fold its log into the file, so the
        # backup is one file that any SQLite reads the same, and leave no -wal behind.
        copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        copy.close()
    with open(target, "rb") as f:
        os.fsync(f.fileno())
    return names, tips


def _copy_file(source: Path, target: Path) -> int:
    """Copy one file into a new 0600 file, synced; its size."""
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
        return dst.tell()
