"""Another copy of a held follow-up or file: kept sealed, as it came, beside the held one.

A follow-up's sealed text, its day and who sealed it, and a file's sealed
description, its size and its stream never change on the server once they
arrived, so a bundle that carries one the workspace holds again carries the
same bytes. Another copy is the server's tampering, or a bug's (anyone can
seal to the unit's key under a held part), as with a tip's report
(copies.py): the held one stays the tip's, and the copy that came is kept
in ``item_copies``, named by its part (``f<seq>``, ``a<n>``), a file's
stream with it when that is not the held one's, in the import's own
transaction, before anything acknowledges it, so the server's purge does
not take the only evidence (docs/threat-model.md). A forward seals a tip's
follow-ups and files again, so those of a tip forwarded back are not
compared (staging.Reading._compare_held).
"""

import hashlib
import os
import secrets

SCHEMA = """
CREATE TABLE IF NOT EXISTS item_copies (
    tip_id TEXT NOT NULL REFERENCES tips(id), part TEXT NOT NULL, n INTEGER NOT NULL,
    day TEXT NOT NULL, export_seq INTEGER NOT NULL, received_day TEXT, encrypted_on TEXT,
    size INTEGER, damaged TEXT, body BLOB NOT NULL, stream BLOB, stream_sha256 TEXT,
    PRIMARY KEY (tip_id, part, n));
"""
#: The columns of a kept follow-up or file copy compared to tell one kept already.
_ITEM_SAME = ("received_day", "encrypted_on", "size", "stream_sha256")
_SAME_ITEM = ("SELECT 1 FROM item_copies WHERE tip_id = ? AND part = ? AND body = ? AND "  # noqa: S608
              + " AND ".join(f"{c} IS ?" for c in _ITEM_SAME))  # (constants)
_KEEP_ITEM = ("INSERT INTO item_copies (tip_id, part, n, day, export_seq, damaged, body, "  # noqa: S608
              f"{', '.join(_ITEM_SAME)}) VALUES ({', '.join('?' * (len(_ITEM_SAME) + 7))})")
#: Bytes of a kept file's stream copied into the database at a time.
_COPY_CHUNK = 1024 * 1024


def followup_differs(held, row, body_of):
    """Whether ``row`` (a staged follow-up) is not ``held`` (its body, day, sealer), byte for byte."""
    body, received_day, encrypted_on, _ = held
    return (received_day != row["received_day"]
            or (encrypted_on or "server") != row["encrypted_on"]  # before it was recorded
            or body != body_of(row["body"]))


def compare_file(reader, row, held, blobs, folder, body_of):
    """Read ``reader``'s pending stream, of ``row`` (a staged file description) held here.

    Returns None if it is the held file (``held``: its info, size, blob
    name, damage), else its copy_of, with ``stream`` the path of its stream
    under ``folder`` if that differs. The stream is compared with the held
    file as it comes and written out only from where it differs: a
    re-export of the same file writes nothing.
    """
    info, size, blob, _ = held
    with open(blobs / blob, "rb") as mine:
        copy = _Differing(mine, folder / (secrets.token_hex(16) + ".bin"))
        try:
            reader.copy_stream(copy.write)
        finally:
            path = copy.finish()
    if path is None and size == row["size"] and info == body_of(row["info"]):
        return None
    item = copy_of(row, row["part"])
    if path is not None:
        item |= {"stream": path, "stream_sha256": copy.digest.hexdigest()}
    return item


class _Differing:
    """A stream compared with a held file as it comes, written out only once it differs.

    From the first chunk that differs, the held file's bytes before it (the
    same as the copy's) and the rest of the copy go to ``path``.
    """

    def __init__(self, held, path):
        self.held, self.path = held, path
        self.same = 0  # bytes of the copy equal to the held file's
        self.out = None
        self.digest = hashlib.sha256()

    def write(self, chunk):
        self.digest.update(chunk)
        if self.out is None:
            if self.held.read(len(chunk)) == chunk:
                self.same += len(chunk)
                return
            self._differ()
        self.out.write(chunk)

    def _differ(self):
        self.out = open(self.path, "wb")  # noqa: SIM115 (closed by finish)
        self.held.seek(0)
        left = self.same
        while left:
            data = self.held.read(min(left, _COPY_CHUNK))
            self.out.write(data)
            left -= len(data)

    def finish(self):
        """The path of the copy if it differs from the held file (None if not)."""
        if self.out is None and self.held.read(1):  # the copy is shorter
            self._differ()
        if self.out is None:
            return None
        self.out.close()
        return self.path


def copy_of(row, part):
    """What keep keeps of a staged follow-up or file description (a file's stream is added)."""
    return {"tip_id": row["tip_id"], "part": part, "body": row.get("body", row.get("info")),
            "received_day": row.get("received_day"), "encrypted_on": row.get("encrypted_on"),
            "size": row.get("size"), "damaged": row["damaged"], "stream": None,
            "stream_sha256": None}


def keep(db, items, export_seq, day, body_of):
    """Keep each of ``items`` (carried copies of held follow-ups and files) as received.

    Inside the import's transaction. Each is a dict with ``tip_id``,
    ``part``, ``body`` (a spill ref: the follow-up's envelope, or the file's
    description), ``received_day``, ``encrypted_on``, ``size``, ``damaged``,
    and of a file ``stream``: the path of its stream in the import's folder,
    and ``stream_sha256``. A stream is copied in a chunk at a time, never
    whole in memory. A copy kept already is not kept twice.
    """
    for item in items:
        body = body_of(item["body"])
        record = [item.get(c) for c in _ITEM_SAME]
        same = db.execute(_SAME_ITEM, [item["tip_id"], item["part"], body, *record]).fetchone()
        if same:
            continue
        (n,) = db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM item_copies WHERE tip_id = ? "
                          "AND part = ?", [item["tip_id"], item["part"]]).fetchone()
        cursor = db.execute(_KEEP_ITEM, [item["tip_id"], item["part"], n, day, export_seq,
                                         item.get("damaged"), body, *record])
        if item.get("stream"):
            _copy_stream(db, cursor.lastrowid, item["stream"])


def _copy_stream(db, rowid, path):
    """Put the stream in file ``path`` into the kept copy ``rowid``, a chunk at a time."""
    db.execute("UPDATE item_copies SET stream = zeroblob(?) WHERE rowid = ?",
               [os.path.getsize(path), rowid])
    with open(path, "rb") as src, db.conn.blobopen("item_copies", "stream", rowid) as blob:
        for chunk in iter(lambda: src.read(_COPY_CHUNK), b""):
            blob.write(chunk)


def kept(db, tip_id):
    """The follow-up and file copies of ``tip_id`` kept here (no bodies): for ``officer show``."""
    return [{"part": part, "n": n, "day": day, "export_seq": seq}
            for part, n, day, seq in db.execute(
                "SELECT part, n, day, export_seq FROM item_copies WHERE tip_id = ? "
                "ORDER BY part, n", [tip_id])]
