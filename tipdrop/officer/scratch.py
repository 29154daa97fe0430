"""Each import's scratch folder under ``attachments/tmp``, and what a killed import left there.

An import keeps its envelopes in a spill file (spill.py) and its attachment
files staged (staging.py) until its one transaction; it removes them
whatever happens, except when it is killed (``kill -9``, a power cut).
They are ciphertext as the server sent it, but they are litter, and a
workstation whose imports keep dying fills its disk with them.

The workspace has no lock of its own: the officer app and ``tipdrop officer
open`` may import into it at once. So each import takes its own: it creates
``<token>.lock`` (16 random bytes in hex) and holds an exclusive ``flock`` on
it for as long as it runs, and only then makes the folder ``<token>/`` that
holds its spill and staged files. The kernel lets go of the lock when the
process ends, however it ends. ``clean`` (run when a workspace is opened)
removes the folder and lock of every import whose lock it can take, that
is, whose process is gone, and never touches a running one's: its lock is
held. Files from before these folders (``import-*.spill`` and staged
``*.bin`` directly under ``attachments/tmp``) carry no lock; they are
removed once nothing has written to them for LEGACY_AGE_SECONDS, far longer
than any import, so a running import of an older version keeps its own.
"""

import errno
import fcntl
import os
import re
import secrets
import shutil
import time
from pathlib import Path

#: Files from before per-import folders are removed once this old (a day).
LEGACY_AGE_SECONDS = 24 * 3600
_LOCK = re.compile(r"[0-9a-f]{32}\.lock")
_LEGACY = re.compile(r"(import-[0-9a-f]{32}\.spill|[0-9a-f]{32}\.bin)")


class Scratch:
    """One import's folder, locked while it lives; ``close`` removes it."""

    def __init__(self, tmp: Path) -> None:
        token = secrets.token_hex(16)
        self._lock_path = Path(tmp) / f"{token}.lock"
        self._lock = os.open(self._lock_path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new: nobody else has it
            #: Where this import's spill and staged files go.
            self.folder = Path(tmp) / token
            self.folder.mkdir(mode=0o700)
        except BaseException:
            os.close(self._lock)
            self._lock_path.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """Remove the folder with whatever is left in it, then the lock (in that order)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock_path.unlink(missing_ok=True)
        os.close(self._lock)


def clean(tmp: Path) -> int:
    """Remove what killed imports left under ``tmp``; return how many of them there were.

    A folder is removed only while its lock is held here (so its import is
    gone and no other cleaner is at it); the lock file goes last, so a crash
    while cleaning leaves it to be found again.
    """
    tmp = Path(tmp)
    removed = 0
    try:
        names = os.listdir(tmp)
    except FileNotFoundError:
        return 0
    for name in names:
        if _LOCK.fullmatch(name):
            removed += _clean_one(tmp, name[:-len(".lock")])
        elif _LEGACY.fullmatch(name):
            removed += _clean_legacy(tmp / name)
    for name in names:  # a folder whose lock is gone: cleaned by a cleaner that then died
        path = tmp / name
        if (re.fullmatch(r"[0-9a-f]{32}", name) and not (tmp / f"{name}.lock").exists()
                and path.is_dir()):
            shutil.rmtree(path, ignore_errors=True)
    return removed


def _clean_one(tmp, token):
    try:
        fd = os.open(tmp / f"{token}.lock", os.O_RDWR)
    except FileNotFoundError:  # its import ended, or another cleaner took it, meanwhile
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return 0  # a running import's
            raise
        if os.fstat(fd).st_nlink == 0:  # removed by its import or a cleaner before we locked it
            return 0
        shutil.rmtree(tmp / token, ignore_errors=True)
        (tmp / f"{token}.lock").unlink(missing_ok=True)
        return 1
    finally:
        os.close(fd)


def _clean_legacy(path):
    try:
        if time.time() - path.stat().st_mtime < LEGACY_AGE_SECONDS:
            return 0
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
