"""Opening a SQLite database the way every tipdrop zone does: pragmas, transactions.

The server's store and the officer's workspace both open their files here.
"""

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

PRAGMAS = (
    # For a new database only (an existing one keeps its page size): attachments
    # are stored in it (blobs.py), and large pages halve the work of writing them.
    "PRAGMA page_size=65536",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    # A statement's undo pages and its sorts stay in RAM: SQLite's default puts
    # them in files on the disk (/var/tmp), unlinked at once, whose blocks keep
    # what a purge deleted (docs/threat-model.md, "Deleted means gone").
    "PRAGMA temp_store=MEMORY",
    # Never cut the log file short after a checkpoint: that frees its blocks
    # with old page images in them, deleted reports' among them. It is reused
    # in place, and emptied only by walscrub.empty_log, which overwrites it first.
    "PRAGMA journal_size_limit=-1",
)
#: Attachments stream into the database (blobs.py): checkpoint after about
#: 64 MiB of log, whatever the page size, rather than after SQLite's 1000
#: pages (4 MiB with the 4 KiB pages of a database made before version 6):
#: fewer, larger checkpoints while uploads stream in.
_CHECKPOINT_BYTES = 64 * 1024 * 1024


def connect(path):
    """Open ``path`` with tipdrop's pragmas; the folder is created private (0700)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Created 0600 here; SQLite gives the -wal and -shm files the same mode.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_BYTES // page_size}")
    return sqlite_utils.Database(conn)


def path_of(db):
    """The file of ``db``'s main database (to open another connection to it)."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file
    raise ValueError("the connection has no main database")


def pragma_report(db):
    """The pragmas actually in effect, for self-checks and tests."""
    return {
        name: db.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "synchronous", "secure_delete", "foreign_keys")
    }


@contextmanager
def transaction(db):
    """BEGIN IMMEDIATE ... COMMIT: all of it or none of it (docs/design.md, invariant 7)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def snapshot(db):
    """BEGIN ... COMMIT around reads that must see one state of the database."""
    db.execute("BEGIN")
    try:
        yield db
    finally:
        db.execute("COMMIT")
