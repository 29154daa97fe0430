"""Emptying a database's log (its ``-wal`` file) so that no old page image stays on the disk.

With WAL, every page a transaction writes is appended to the ``-wal`` file
as a frame, and the frames stay there after they are copied into the
database: until a later write overwrites them, or the file is cut short.
Cutting it short (``PRAGMA wal_checkpoint(TRUNCATE)``) gives its blocks back
to the file system *with their bytes in them*: the page images of deleted
reports as they were written, tip ids, receipt locators and ciphertext,
which anyone imaging the disk can read until the blocks are reused.

So the log is overwritten first, through SQLite itself, never behind its
back (other processes have the file open and map its index):

1. ``wal_checkpoint(RESTART)`` copies every frame into the database and
   waits until no reader uses the log: SQLite then starts the next write
   at the log's beginning, over the old frames.
2. One write transaction, with a page cache of a few pages, makes a table
   and fills it with zeros: SQLite writes ("spills") the changed pages to
   the log as frames as it goes, one after the other. The log's length is
   measured once this transaction holds the write lock (no other
   connection can append then), and the zeros go on until they reach past
   it; where they end is measured too. Then it is rolled back: the
   database does not change or grow, and the frames, never committed, are
   never read, but their bytes are where the old ones were.
3. The log file is synced (the frames of a transaction rolled back are not),
   its length checked against where the zeros ended (a writer that
   committed since may have gone past them: then all of it again, three
   rounds at most), and only then is it checkpointed with TRUNCATE.

Another connection may write between the steps: its frames hold the
database as it is, and they too start at the log's beginning after step 1.
Frames committed between step 3's check and the truncation (which waits
for the write lock: a write transaction under way at the check goes on
appending until it commits) are the one thing freed unwritten: pages of
the database as it is then.

SQLite also deletes the log when the last connection to a database closes,
after a checkpoint, its bytes unwritten: a server's processes (store.hold_wal),
gunicorn's master and the server commands that write (server/cli.py) close
their connection through :func:`close`, which empties the log first.

The log is never cut short anywhere else: ``journal_size_limit`` is -1 on
every connection (common/sqlite.py), as SQLite's own trimming after a
checkpoint frees the blocks beyond the limit unwritten. Readers, writers
and checkpoints of other connections go on as usual throughout: each step
is an ordinary SQLite operation under SQLite's locks.
"""

import atexit
import math
import os
import sqlite3

from tipdrop.common.sqlite import path_of

#: Bytes of the log file's header, and of each frame's header (SQLite's WAL format).
_FILE_HEADER = 32
_FRAME_HEADER = 24
#: Pages of zeros per row of the scratch table.
_ROW_PAGES = 1024
#: SQLite's page cache while overwriting: it writes a transaction's pages to
#: the log as frames whenever more than this many are changed (a "spill").
_CACHE_PAGES = 16
#: Overwrites in a row before giving up, while other writers go past the zeros.
_ROUNDS = 3


def empty_log(db):
    """Overwrite ``db``'s log with frames of zeros, then truncate it to zero bytes.

    Returns False, with nothing cut short, if a reader kept the log in use
    (after busy_timeout), the log could not be shown to be overwritten, or
    other writers went on growing it past the zeros; the next call tries again.
    """
    log = path_of(db) + "-wal"
    (page,) = db.execute("PRAGMA page_size").fetchone()
    for _ in range(_ROUNDS):
        zeroed = _overwrite(db, log, _FRAME_HEADER + page, page)
        if zeroed is None:
            return False
        # A writer that committed since writes over the zeros from where they
        # began; one that went past their end left frames beyond them.
        if _size(log) <= zeroed:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return busy == 0
    return False


def close(db):
    """Empty ``db``'s log as :func:`empty_log` does, then close ``db``; True if it was emptied.

    For a connection that may be the last one to its database: SQLite then
    deletes the log, and what its blocks hold must be zeros by then. A
    database busy past busy_timeout, a log that cannot be synced, or a
    connection closed already, is closed without it (False): if it was the
    last connection, SQLite deletes the log as it is (docs/threat-model.md).
    """
    try:
        return empty_log(db)
    except (sqlite3.ProgrammingError, sqlite3.OperationalError, OSError):
        return False
    finally:
        db.close()


def close_at_exit(db):
    """Close ``db`` through :func:`close` when this process exits (not in a forked child)."""
    pid = os.getpid()

    def finish():
        if os.getpid() == pid:
            close(db)

    atexit.register(finish)


def _overwrite(db, log, frame, page):
    """Steps 1 and 2 of the module's docstring, synced; where the zeros end, or None if they did not.

    The end is a length of the log: every byte of it from where the zeros
    began was written over, and all that was before them was written since
    the checkpoint (step 1).
    """
    (cache,) = db.execute("PRAGMA cache_size").fetchone()
    db.execute(f"PRAGMA cache_size={_CACHE_PAGES}")
    try:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        if busy:
            return None
        try:
            zeroed = _spill_zeros(db, log, frame, page)
        except sqlite3.OperationalError:  # busy past busy_timeout, or the disk is full
            return None
    finally:
        db.execute(f"PRAGMA cache_size={int(cache)}")
    if zeroed is None or zeroed <= _FILE_HEADER:
        return zeroed
    # The frames are written but not yet on the disk: a truncation would drop
    # them from the page cache and free the blocks with the old bytes.
    fd = os.open(log, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return zeroed


def _spill_zeros(db, log, frame, page):
    """Write pages of zeros to the log past its end, in a transaction rolled back; where they end.

    None if they did not reach past the end the log had when the transaction
    took the write lock (from then on, only it writes to the log).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        size = _size(log)
        if size <= _FILE_HEADER:
            return size  # no frame to write over
        # Past the end by more than the pages the cache keeps unwritten.
        frames = math.ceil((size - _FILE_HEADER) / frame) + 2 * _CACHE_PAGES
        # The table is made in a transaction that is rolled back: never seen.
        db.execute("CREATE TABLE tipdrop_log_scrub (zeros BLOB)")
        # An overflow page carries page - 4 bytes of a blob; rows of at most
        # 1,024 pages stay far below SQLite's largest blob (1e9 bytes).
        for start in range(0, frames, _ROW_PAGES):
            count = min(_ROW_PAGES, frames - start)
            db.execute("INSERT INTO tipdrop_log_scrub VALUES (zeroblob(?))",
                       [count * (page - 4)])
        zeroed = _size(log)
        return zeroed if zeroed > size else None
    finally:
        if db.conn.in_transaction:  # SQLite rolls back by itself on some errors
            db.execute("ROLLBACK")


def _size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
