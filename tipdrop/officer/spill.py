"""An import's sealed contents wait on disk for its transaction, not in memory.

A bundle may carry any number of items of up to 4 MiB each
(bundles.MAX_JSON_RECORD), and anyone can seal valid tips to the unit's
public key: an import that held every envelope until its one transaction
would grow the workstation's memory with the bundle (docs/threat-model.md,
a compromised server). staging.py keeps only each row's small metadata in
memory and puts every envelope (a tip's report, a follow-up, an
attachment's description) here: a scratch file beside the staged
attachment files (the import's own folder under ``attachments/tmp``,
scratch.py), removed whatever happens, or at the next opening of the
workspace if the import was killed. The import's transaction copies the envelopes into the workspace
from it row by row (insert), so all or nothing holds as before: a refused
bundle leaves nothing, and memory stays flat whatever the bundle's size.

The file holds ciphertext only (envelopes as the server sent them), like the
export bundle it was read from; nothing decrypted is written here.
"""

import operator
import os
import secrets
from array import array
from pathlib import Path

#: Bytes written to the file at once (the one buffer an import keeps of its envelopes).
BUFFER_BYTES = 1024 * 1024
#: The columns of the workspace's rows that hold a ref here: the envelopes.
_SPILLED = frozenset({"body", "info"})
#: Rows inserted into the workspace by one executemany.
INSERT_BATCH = 500
#: The SQL function an insert fetches a ref's bytes with (see insert).
_FETCH = "tipdrop_spilled"


class Spill:
    """A scratch file of byte strings, each named by a small integer (its ref).

    The strings are written one after the other, as they come; the file's
    only index is the offset where each ends (8 bytes a ref, in memory).
    A SQLite file did the same work with a B-tree the import never needed:
    writing every envelope there and copying it out again cost as much as
    inserting it into the workspace (bench/officer_import.py).
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / f"import-{secrets.token_hex(16)}.spill"
        # Private from the start, like every workspace file.
        self._fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        self._out = os.fdopen(self._fd, "wb", buffering=BUFFER_BYTES, closefd=False)
        #: Where each ref's bytes end; ref n is ends[n - 1]:ends[n].
        self._ends = array("q", [0])
        self._unwritten = False

    def put(self, data: bytes) -> int:
        """Keep ``data``; return the ref that names it."""
        self._out.write(data)
        self._ends.append(self._ends[-1] + len(data))
        self._unwritten = True
        return len(self._ends) - 1

    def flush(self) -> None:
        """Write what is buffered (before it is read)."""
        if self._unwritten:
            self._out.flush()
            self._unwritten = False

    def get(self, ref: int) -> bytes:
        """The bytes kept under ``ref``."""
        if self._unwritten:
            self.flush()
        start, end = self._ends[ref - 1], self._ends[ref]
        data = os.pread(self._fd, end - start, start)
        if len(data) != end - start:
            raise OSError(f"the import's scratch file {self.path.name} was cut short")
        return data

    def close(self) -> None:
        """Forget everything: close and remove the file."""
        try:
            self._out.close()  # (a write it still buffered may fail: nothing is kept anyway)
        except OSError:
            pass
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


def insert(db, table: str, rows: list[dict], spill: Spill) -> None:
    """Insert staging.py's staged ``rows`` (dicts) into ``table``, in executemany batches.

    A row's envelope columns (_SPILLED) hold refs into ``spill``: SQLite
    asks for each envelope's bytes as it inserts the row (a SQL function),
    so only one row's envelope is in memory at a time. sqlite-utils'
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
    places = ", ".join(f"{_FETCH}(?)" if name in _SPILLED else "?" for name in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({places})"
    spill.flush()
    db.conn.create_function(_FETCH, 1, spill.get)
    try:
        for start in range(0, len(values), INSERT_BATCH):
            db.conn.executemany(sql, values[start:start + INSERT_BATCH])
    finally:
        db.conn.create_function(_FETCH, 1, None)
