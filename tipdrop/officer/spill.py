"""An import's sealed contents wait on disk for its transaction, not in memory.

A bundle may carry any number of items of up to 4 MiB each
(bundles.MAX_JSON_RECORD), and anyone can seal valid tips to the unit's
public key: an import that held every envelope until its one transaction
would grow the workstation's memory with the bundle (docs/threat-model.md,
a compromised server). staging.py keeps only each row's small metadata in
memory and puts every envelope (a tip's report, a follow-up, an
attachment's description) here: a scratch SQLite file beside the staged
attachment files (the workspace's ``attachments/tmp``), removed whatever
happens. The import's transaction copies the envelopes into the workspace
straight from it (``INSERT ... SELECT``, via ATTACH), so all or nothing
holds as before: a refused bundle leaves nothing, and memory stays flat
whatever the bundle's size.

The file holds ciphertext only (envelopes as the server sent them), like the
export bundle it was read from; nothing decrypted is written here.
"""

import operator
import os
import secrets
import sqlite3
from pathlib import Path

#: The schema the import's transaction reads (ATTACHed under this name).
SCHEMA = "spill"
#: Envelopes written at once: executemany in batches keeps the import fast,
#: and a batch is bounded in bytes too (a few of the largest envelopes).
BATCH_ROWS = 256
BATCH_BYTES = 1024 * 1024
#: The columns of the workspace's rows that hold a ref here: the envelopes.
_SPILLED = frozenset({"body", "info"})
#: Rows inserted into the workspace by one executemany.
INSERT_BATCH = 500


class Spill:
    """A scratch store of byte strings, each named by a small integer (its ref)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / f"import-{secrets.token_hex(16)}.spill"
        # Private from the start, like every workspace file.
        os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
        # Scratch: a crash leaves a file the next import's cleanup does not need;
        # nothing here must survive one (the bundle is still on the stick).
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE data (id INTEGER PRIMARY KEY, bytes BLOB NOT NULL)")
        self._pending: list[tuple[int, bytes]] = []
        self._pending_bytes = 0
        self._last = 0

    def put(self, data: bytes) -> int:
        """Keep ``data``; return the ref that names it."""
        self._last += 1
        self._pending.append((self._last, data))
        self._pending_bytes += len(data)
        if len(self._pending) >= BATCH_ROWS or self._pending_bytes >= BATCH_BYTES:
            self.flush()
        return self._last

    def flush(self) -> None:
        """Write what is pending (before it is read, or the file attached)."""
        if not self._pending:
            return
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO data (id, bytes) VALUES (?, ?)", self._pending)
        self._db.execute("COMMIT")
        self._pending.clear()
        self._pending_bytes = 0

    def get(self, ref: int) -> bytes:
        """The bytes kept under ``ref``."""
        self.flush()
        (data,) = self._db.execute("SELECT bytes FROM data WHERE id = ?", [ref]).fetchone()
        return bytes(data)

    def close(self) -> None:
        """Forget everything: close and remove the file."""
        self._pending.clear()
        self._db.close()
        self.path.unlink(missing_ok=True)


def insert(db, table: str, rows: list[dict]) -> None:
    """Insert staging.py's staged ``rows`` (dicts) into ``table``, in executemany batches.

    The spill must be ATTACHed as SCHEMA (opening.open_bundle does, around
    its transaction): a row's envelope columns (_SPILLED) hold refs, and
    SQLite copies the bytes from the spill itself. sqlite-utils'
    ``insert_all`` spends Python work per row that an import of 100k tips
    feels (bench/officer_import.py); the rows are all made by staging.py,
    so their columns are known and the same.
    """
    first = rows[0].keys()
    if len(first) > 1 and all(row.keys() == first for row in rows):
        # As staging.py makes them: one getter (in C) gives every row's tuple.
        columns = list(first)
        values = list(map(operator.itemgetter(*columns), rows))
    else:
        columns = list(dict.fromkeys(name for row in rows for name in row))
        values = [tuple(row.get(name) for name in columns) for row in rows]
    names = ", ".join(f'"{name}"' for name in columns)
    places = ", ".join(f"(SELECT bytes FROM {SCHEMA}.data WHERE id = ?)" if name in _SPILLED
                       else "?" for name in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({places})"
    for start in range(0, len(values), INSERT_BATCH):
        db.conn.executemany(sql, values[start:start + INSERT_BATCH])
