"""Attachment ciphertext kept in the database, in pieces, so no file's times tell a report's.

A file per attachment would carry, in its birth, change and modification
times, the moment its report arrived, to the nanosecond; the change and
birth times cannot be set back (docs/threat-model.md, "Times"). So the
encrypted bytes of every attachment are rows here instead: pieces of up
to :data:`CHUNK_BYTES`, each written in a short transaction of its own
while the upload streams in (memory stays one piece per upload), under a
random blob id that nothing refers to yet, marked as staged with the day
it began. The transaction that stores the report links the blob (clears
``staged_day``), so a report has all its files or none. The database's own
files change with every write of any kind; they say nothing about one tip.

A blob still staged two days after the day it began belongs to no request
that can still be running: :func:`sweep_staged` deletes it. The day is all
the sweep needs, and all that is kept.

Deleting is :func:`delete`, inside the caller's transaction: with
``secure_delete`` on, SQLite overwrites the freed pages with zeros, and
the WAL is truncated after a purge (tipdrop.server.retention).
"""

import datetime
import json
import secrets
from contextlib import contextmanager

from tipdrop.common.sqlite import transaction
from tipdrop.errors import TipdropError

#: Bytes of ciphertext per row. Large enough that a 200 MB upload is a few
#: hundred short transactions, small enough to hold one per upload in memory.
CHUNK_BYTES = 1024 * 1024
#: A staged blob older than this many days is left over from a crash.
STALE_DAYS = 2


class BlobMissingError(TipdropError):
    """An attached file named in the database is missing from it: the database is damaged."""

    http_status = 500


class UploadSweptError(TipdropError):
    """This upload took too long and was deleted. Please send the report again."""

    http_status = 409


def new(db, day):
    """Start a staged blob on ``day`` (YYYY-MM-DD); return its id. No fsync (:func:`_staging`)."""
    blob = secrets.token_hex(16)
    with _staging(db):
        db.execute("INSERT INTO blobs (id, staged_day) VALUES (?, ?)", [blob, day])
    return blob


def append(db, blob, seq, data):
    """Store piece ``seq`` of a staged blob, in a transaction of its own, with no fsync."""
    with _staging(db):
        # Bound as it is (bytes, bytearray, memoryview): SQLite copies it anyway.
        db.execute("INSERT INTO blob_chunks (blob, seq, data) VALUES (?, ?, ?)",
                   [blob, seq, data])


def staging_only(db):
    """Make ``db``, a connection that will store nothing but staged pieces, commit without fsync.

    For the thread that stores an upload's pieces over a connection of its
    own (tipdrop.server.attachments): ``synchronous`` is a setting of the
    connection, so set once it needs no switching back and forth around each
    piece, as :func:`_staging` does on a connection that also stores reports.
    Why no fsync is safe for pieces: :func:`_staging`.
    """
    db.execute("PRAGMA synchronous=NORMAL")


def append_staged(db, blob, seq, data):
    """Store piece ``seq`` of a staged blob over a :func:`staging_only` connection.

    One statement, which SQLite runs as a transaction of its own (the
    connection is in autocommit mode, sqlite.connect), waiting for the write
    lock as ``BEGIN IMMEDIATE`` would, instead of the five of :func:`append`
    (two PRAGMAs, BEGIN, INSERT, COMMIT). Measured in one process on 256 MiB
    (bench/sealed_upload.py, in_process): the storing thread spent the same
    CPU either way but waited longer with five, most of all beside a sealed
    upload's request thread, which computes without letting go of Python's
    lock where a server-encrypted one lets go of it in AES-GCM; the sealed
    upload went from 0.92 to 1.0 of the server-encrypted one, and both got
    faster (bench/RESULTS.md, "A report sealed on the device").
    """
    db.execute("INSERT INTO blob_chunks (blob, seq, data) VALUES (?, ?, ?)", [blob, seq, data])


@contextmanager
def _staging(db):
    """A transaction that stages a blob, committed with ``synchronous=NORMAL``: no fsync.

    Nothing depends on a staged blob or its pieces until the report's own
    transaction links it, and that one commits with ``synchronous=FULL``,
    whose fsync of the WAL makes everything written before it durable too
    (a checkpoint syncs the WAL first as well). A blob or piece lost in a
    power cut belongs to a report that was never acknowledged. An fsync
    here was one of the three of every submit, whatever its size
    (bench/RESULTS.md, "Attachment upload").
    """
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction(db):
            yield db
    finally:
        db.execute("PRAGMA synchronous=FULL")


def insert(db, data):
    """Store ``data`` as a new, already linked blob; call inside the caller's transaction.

    For ciphertext that arrives whole and signed (a forward between units,
    tipdrop.server.exchange), stored with the rest of it or not at all.
    """
    blob = secrets.token_hex(16)
    db.execute("INSERT INTO blobs (id, staged_day) VALUES (?, NULL)", [blob])
    view = memoryview(bytes(data))
    for seq, start in enumerate(range(0, max(len(view), 1), CHUNK_BYTES)):
        db.execute("INSERT INTO blob_chunks (blob, seq, data) VALUES (?, ?, ?)",
                   [blob, seq, bytes(view[start:start + CHUNK_BYTES])])
    return blob


def link(db, names):
    """Mark the staged blobs ``names`` as stored; call inside the report's transaction.

    Raises UploadSweptError if one is no longer staged (swept meanwhile):
    the report is then not stored.
    """
    for name in names:
        cursor = db.execute("UPDATE blobs SET staged_day = NULL WHERE id = ? "
                            "AND staged_day IS NOT NULL", [name])
        if cursor.rowcount != 1:
            raise UploadSweptError()


def discard(db, blob):
    """Delete a staged blob (an upload refused, cut short or failed)."""
    with transaction(db):
        delete(db, [blob])


def delete(db, names):
    """Delete blobs and their pieces; call inside a transaction."""
    if names:
        ids = json.dumps(list(names))
        db.execute("DELETE FROM blob_chunks WHERE blob IN (SELECT value FROM json_each(?))", [ids])
        db.execute("DELETE FROM blobs WHERE id IN (SELECT value FROM json_each(?))", [ids])


def size(db, blob):
    """Bytes in ``blob``; raises BlobMissingError if there is no such blob."""
    row = db.execute("SELECT (SELECT COALESCE(SUM(length(data)), 0) FROM blob_chunks "
                     "WHERE blob = b.id) FROM blobs b WHERE b.id = ?", [blob]).fetchone()
    if row is None:
        raise BlobMissingError(blob)
    return row[0]


class Reader:
    """A read-only file object over one blob's pieces, one piece in memory at a time."""

    def __init__(self, db, blob):
        self._db = db
        self._blob = blob
        self._seq = 0
        self._piece = memoryview(b"")

    def readable(self):
        return True

    def read(self, n=-1):
        out = bytearray()
        while n < 0 or len(out) < n:
            if not self._piece:
                row = self._db.execute("SELECT data FROM blob_chunks WHERE blob = ? AND seq = ?",
                                       [self._blob, self._seq]).fetchone()
                if row is None:
                    break
                self._seq += 1
                self._piece = memoryview(row[0])
            take = len(self._piece) if n < 0 else min(n - len(out), len(self._piece))
            out += self._piece[:take]
            self._piece = self._piece[take:]
        return bytes(out)

    def close(self):
        self._piece = memoryview(b"")


def sweep_staged(db, today):
    """Delete blobs staged before ``today`` minus STALE_DAYS days; return how many."""
    day = today if isinstance(today, datetime.date) else datetime.date.fromisoformat(today)
    cutoff = (day - datetime.timedelta(days=STALE_DAYS)).isoformat()
    with transaction(db):
        stale = [row[0] for row in db.execute(
            "SELECT id FROM blobs WHERE staged_day IS NOT NULL AND staged_day <= ?", [cutoff])]
        # A blob neither staged nor named by any file row has no owner either
        # (it cannot happen through tipdrop's own code; swept all the same).
        stale += [row[0] for row in db.execute(
            "SELECT id FROM blobs WHERE staged_day IS NULL "
            "AND id NOT IN (SELECT blob FROM attachments WHERE blob IS NOT NULL)")]
        delete(db, stale)
    return len(stale)
