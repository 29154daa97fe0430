"""What the server stored, read straight from its database file (no tipdrop code in between)."""

import sqlite3
from contextlib import closing
from pathlib import Path


def _connect(database):
    database = Path(database)
    if database.is_dir():  # a data folder
        database = database / "tipdrop.db"
    return closing(sqlite3.connect(database, timeout=10))


def tip_count(database):
    """How many reports the server holds."""
    with _connect(database) as conn:
        return conn.execute("SELECT COUNT(*) FROM tips").fetchone()[0]


def blob_bytes(database, name):
    """The ciphertext of the attachment blob ``name``, as the database holds it."""
    with _connect(database) as conn:
        pieces = conn.execute("SELECT data FROM blob_chunks WHERE blob = ? ORDER BY seq",
                              [name]).fetchall()
        exists = conn.execute("SELECT 1 FROM blobs WHERE id = ?", [name]).fetchone()
    assert exists, f"no blob {name}"
    return b"".join(piece for (piece,) in pieces)


def blob_exists(database, name):
    with _connect(database) as conn:
        return conn.execute("SELECT 1 FROM blobs WHERE id = ?", [name]).fetchone() is not None


def staged_blobs(database):
    """Ids of blobs of uploads not (yet) stored with a report."""
    with _connect(database) as conn:
        return [row[0] for row in conn.execute(
            "SELECT id FROM blobs WHERE staged_day IS NOT NULL ORDER BY id")]


def all_blobs(database):
    """{id: staged_day} of every blob, and whether any piece has no blob row."""
    with _connect(database) as conn:
        return dict(conn.execute("SELECT id, staged_day FROM blobs"))


def tip_ids(database):
    """The ids of the reports the server holds."""
    with _connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM tips")]
