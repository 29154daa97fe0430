"""When each unfinished resumable upload began and last moved: kept in RAM, never in the database.

Only uploads making progress hold a place among the open uploads
(docs/protocol.md section 19, "Idle uploads"), so the server must know
when each one began or received its last piece, to the second. Written
into the database, that moment stays on the disk: SQLite keeps every page
image a write replaced in the ``-wal`` file until the log is overwritten or
truncated, so clearing the moment when the report is stored does not take
it off a disk taken while the server runs or after its plug was pulled,
and the same page image names the report's tip id. That would tell when a
report arrived to the second (docs/threat-model.md, "Times").

The moment it began bounds its lifetime (docs/protocol.md section 19,
"Lifetime") and is kept the same way.

So the moments live beside the rate limits' counts, in the server's
shared file in RAM (tipdrop/server/web/ratelimit.py, ``TIPDROP_RUNTIME_DIR``),
on the system's monotonic clock: a table of (upload id, moment), one row
per unfinished upload, deleted when the upload is stored, dropped or gone.
None of it reaches a disk, a backup or the next boot. An upload whose
moment is not known (the server restarted, so the file in RAM was new)
counts as idle since ever: it keeps its place while there is room, and its
device resumes it, as before; only a new begin that needs the room takes
it, the uploads begun first first.

Every call is made inside the database transaction that changes the
upload, so the database and the moments change in the same order in every
worker (the database's lock, then the file's: never the other way round).
"""

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: The table, in the shared file in RAM (ratelimit.SCHEMA creates it there too).
SCHEMA = ("CREATE TABLE IF NOT EXISTS upload_moves (upload TEXT PRIMARY KEY, at REAL NOT NULL,"
          " began REAL NOT NULL) WITHOUT ROWID")

Transaction = Callable[[Callable[[sqlite3.Connection], Any]], Any]


def _private() -> Transaction:
    """A transaction over a private in-memory table: for one process (tests, tools)."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute(SCHEMA)
    lock = threading.Lock()

    def transaction(work: Callable[[sqlite3.Connection], Any]) -> Any:
        with lock, _immediate(conn):
            return work(conn)

    return transaction


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class UploadMoves:
    """The moment each unfinished upload last moved, shared by a server's workers.

    ``transaction`` runs a function as one write transaction of the file in
    RAM (SharedCounts.transaction); without it, a private table in this
    process's memory.
    """

    def __init__(self, transaction: Transaction | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transaction = transaction or _private()
        self.clock = clock

    def touch(self, upload: str) -> None:
        """The upload began, received a piece or is being stored: it is not idle.

        The first touch this server sees of an upload is also when it began,
        for its lifetime (:meth:`past`).
        """
        at = self.clock()
        self.transaction(lambda conn: conn.execute(
            "INSERT INTO upload_moves (upload, at, began) VALUES (?, ?, ?) "
            "ON CONFLICT (upload) DO UPDATE SET at = excluded.at", [upload, at, at]))

    def past(self, upload: str, lifetime_seconds: float) -> bool:
        """Whether the upload began ``lifetime_seconds`` ago or more.

        An upload whose beginning is not known (the server restarted) is not:
        its lifetime counts from its next move, the first this server sees.
        """
        row = self.transaction(lambda conn: conn.execute(
            "SELECT began FROM upload_moves WHERE upload = ?", [upload]).fetchone())
        return row is not None and self.clock() - row[0] >= lifetime_seconds

    def forget(self, uploads: Sequence[str]) -> None:
        """The uploads are stored, dropped or deleted: their moments go."""
        self.transaction(lambda conn: conn.execute(
            "DELETE FROM upload_moves WHERE upload IN (SELECT value FROM json_each(?))",
            [json.dumps(list(uploads))]))

    def idle(self, unfinished: Sequence[str], idle_seconds: float, *,
             prune: bool = False) -> list[str]:
        """The idle ones of ``unfinished`` (given in the order begun), longest idle first.

        An upload with no known moment is idle since ever; of two idle as
        long, the one begun first comes first. ``prune`` (given the whole
        list of unfinished uploads, inside the database transaction that
        read it) deletes the moments of uploads no longer in it.
        """
        names = json.dumps(list(unfinished))

        def work(conn: sqlite3.Connection) -> dict[str, float]:
            if prune:
                conn.execute("DELETE FROM upload_moves WHERE upload NOT IN "
                             "(SELECT value FROM json_each(?))", [names])
            return dict(conn.execute(
                "SELECT upload, at FROM upload_moves WHERE upload IN "
                "(SELECT value FROM json_each(?))", [names]).fetchall())

        moments = self.transaction(work)
        before = self.clock() - idle_seconds
        idle = [upload for upload in unfinished if moments.get(upload, float("-inf")) < before]
        return sorted(idle, key=lambda upload: moments.get(upload, float("-inf")))
