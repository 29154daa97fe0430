"""Resumable uploads in the database: one row each, its pieces in a staged blob.

The pieces of an upload (tipdrop/server/uploads.py) are rows of a staged
blob (blobs.py), so they are ciphertext at rest like attachments, deleted
with ``secure_delete`` like them, and swept with them if nothing else does.
A piece and the upload's count and chain are written in one transaction:
a piece is stored whole with its place in the chain, or not at all.

When each unfinished upload began and last received a piece is kept in RAM
only (tipdrop/server/upload_moves.py): a moment written here would stay in
the database's log on the disk, beside the report's tip id. An upload idle
for the idle time no longer holds its place among the open uploads:
:func:`create` deletes the longest idle ones when a new upload needs the
room (docs/protocol.md section 19, "Idle uploads"); one past its lifetime
is deleted at its next request (tipdrop/server/uploads.py, "Lifetime").
"""

import json
import sqlite3

from tipdrop.common.sqlite import transaction
from tipdrop.server.store import blobs

COLUMNS = "id, request, fields, blob, day, pieces, chain, state, answer"


def get(db, upload):
    """The row of upload ``upload`` as a dict, or None."""
    cursor = db.execute(f"SELECT {COLUMNS} FROM uploads WHERE id = ?", [upload])  # noqa: S608
    row = cursor.fetchone()
    return None if row is None else dict(zip(COLUMNS.split(", "), row, strict=True))


def count_unfinished(db):
    return db.execute("SELECT COUNT(*) FROM uploads WHERE state != 'done'").fetchone()[0]


def _unfinished(db):
    """{id: blob} of the unfinished uploads, in the order they began."""
    return dict(db.execute("SELECT id, blob FROM uploads WHERE state != 'done' "
                           "ORDER BY rowid").fetchall())


def has_room(db, *, max_open, moves, idle_seconds):
    """Whether :func:`create` would find a place now (it checks again in its transaction)."""
    unfinished = list(_unfinished(db))
    return len(unfinished) + 1 - max_open <= len(moves.idle(unfinished, idle_seconds))


def create(db, row, *, max_open, moves, idle_seconds):
    """Insert a new upload and its empty staged blob, making room for it; False if there is none.

    At most ``max_open`` uploads are unfinished at once. Those that did
    not move for ``idle_seconds`` (``moves``, upload_moves.UploadMoves; one
    whose moment is unknown counts as idle) do not hold their place: the longest idle
    are deleted, with their pieces, as many as the new one needs (of two
    idle as long, the one begun first). If ``max_open`` are making
    progress, nothing is written. One transaction, so two workers never
    both take the last place. Raises sqlite3.IntegrityError if the id is
    taken.
    """
    with transaction(db):
        unfinished = _unfinished(db)
        idle = moves.idle(list(unfinished), idle_seconds, prune=True)
        excess = len(unfinished) + 1 - max_open
        if excess > len(idle):
            return False
        if excess > 0:
            _delete(db, [(upload, unfinished[upload]) for upload in idle[:excess]])
            moves.forget(idle[:excess])
        db.execute("INSERT INTO blobs (id, staged_day) VALUES (?, ?)", [row["blob"], row["day"]])
        db.execute("INSERT INTO uploads (id, request, fields, blob, day, pieces, chain, state) "
                   "VALUES (?, ?, ?, ?, ?, 0, ?, 'open')",
                   [row["id"], row["request"], row["fields"], row["blob"], row["day"],
                    row["chain"]])
        moves.touch(row["id"])
    return True


def claim(db, upload, moves):
    """Mark an unfinished upload ``storing`` (a finish with the right chain began); True if so.

    Touched too, so it is not taken for idle while it is stored. A claimed
    upload is never deleted by :func:`drop_unclaimed`: a finish naming a
    wrong chain at the same time cannot delete the pieces under the right
    one. False if the upload is gone or done.
    """
    with transaction(db):
        cursor = db.execute("UPDATE uploads SET state = 'storing' "
                            "WHERE id = ? AND state != 'done'", [upload])
        if cursor.rowcount != 1:
            return False
        moves.touch(upload)
        return True


def drop_unclaimed(db, upload):
    """Delete an upload no finish has claimed (still ``open``), with its pieces; True if deleted."""
    with transaction(db):
        row = db.execute("SELECT blob FROM uploads WHERE id = ? AND state = 'open'",
                         [upload]).fetchone()
        if row is None:
            return False
        _delete(db, [(upload, row[0])])
        return True


def _delete(db, rows):
    """Delete uploads given as (id, blob) rows and their pieces; call inside a transaction."""
    db.execute("DELETE FROM uploads WHERE id IN (SELECT value FROM json_each(?))",
               [json.dumps([row[0] for row in rows])])
    blobs.delete(db, [row[1] for row in rows if row[1] is not None])


def add_piece(db, upload, index, data, chain, moves):
    """Store piece ``index`` if it is the next one of an open upload; True if stored.

    It is progress (``moves.touch``): an upload that receives pieces keeps
    its place among the open uploads.

    ``synchronous=NORMAL`` as for an attachment's pieces (blobs.append): the
    report's own transaction makes them durable; a piece lost to a power cut
    is lost with its count and chain, and the device sends it again.
    """
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction(db):
            cursor = db.execute("UPDATE uploads SET pieces = pieces + 1, chain = ? "
                                "WHERE id = ? AND pieces = ? AND state = 'open'",
                                [chain, upload, index])
            if cursor.rowcount != 1:
                return False
            moves.touch(upload)
            blob = db.execute("SELECT blob FROM uploads WHERE id = ?", [upload]).fetchone()[0]
            db.execute("INSERT INTO blob_chunks (blob, seq, data) VALUES (?, ?, ?)",
                       [blob, index, bytes(data)])
            return True
    finally:
        db.execute("PRAGMA synchronous=FULL")


def finish(db, upload, answer, moves):
    """The report is stored: keep only the sealed answer, for a retry; delete the pieces.

    Call inside the report's own transaction, so that the report and the
    answer are stored together or not at all: a crash in between would leave
    a report whose answer (its receipt) no retry could give. False, and
    nothing written, if the upload is no longer there or already done.
    """
    blob = db.execute("SELECT blob FROM uploads WHERE id = ? AND state != 'done'",
                      [upload]).fetchone()
    if blob is None:
        return False
    db.execute("UPDATE uploads SET state = 'done', answer = ?, blob = NULL, fields = NULL, "
               "chain = NULL WHERE id = ?", [answer, upload])
    moves.forget([upload])
    if blob[0] is not None:
        blobs.delete(db, [blob[0]])
    return True


def drop(db, upload):
    """Delete an unfinished upload and its pieces (refused at the end: the device starts again).

    A finished one stays: its answer is what a retry of its finish gets.
    """
    with transaction(db):
        row = db.execute("SELECT blob FROM uploads WHERE id = ? AND state != 'done'",
                         [upload]).fetchone()
        db.execute("DELETE FROM uploads WHERE id = ? AND state != 'done'", [upload])
        if row is not None and row[0] is not None:
            blobs.delete(db, [row[0]])


def delete_older(db, cutoff, dry_run=False):
    """Delete every upload begun before ``cutoff`` (YYYY-MM-DD), finished or not; return how many."""
    with transaction(db):
        rows = db.execute("SELECT id, blob FROM uploads WHERE day < ?", [cutoff]).fetchall()
        if not dry_run:
            _delete(db, rows)
    return len(rows)


def report_stored(db, fingerprint, day):
    """Whether a report with this fingerprint was stored and its window is still open on ``day``.

    Kept in ``spent_forms`` beside the form tokens, as they are: a
    fingerprint and the day it is forgotten after, no tip id, no time of
    day, no row order (docs/protocol.md section 19, "Lost answers").
    """
    row = db.execute("SELECT 1 FROM spent_forms WHERE digest = ? AND expires_day >= ?",
                     [bytes(fingerprint), day]).fetchone()
    return row is not None


def remember_report(db, fingerprint, expires_day, day):
    """Record a stored report's fingerprint until ``expires_day``; False if it is there already.

    Call inside the report's own transaction: the fingerprint is kept
    exactly when the report is. Rows past their day are deleted first.
    """
    db.execute("DELETE FROM spent_forms WHERE expires_day < ?", [day])
    try:
        db.execute("INSERT INTO spent_forms (digest, expires_day) VALUES (?, ?)",
                   [bytes(fingerprint), expires_day])
    except sqlite3.IntegrityError:
        return False
    return True
