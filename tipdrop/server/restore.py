"""Restore a backup (tipdrop.server.backup) onto an empty data folder: all of it or nothing.

The backup is decrypted as it is read, in constant memory, and its records
are loaded into a new database in a hidden folder beside the target. Only
when the last chunk has authenticated (docs/protocol.md section 5) is that
folder renamed to the target; any failure (wrong key, a changed byte, a
file cut short) removes it, so the target is never half-written.

A backup proves it was sealed to the backup key, not who sealed it (HPKE
base mode): anyone with the public key can make one. So its records are
checked as strictly as untrusted input: only CREATE TABLE and CREATE INDEX
statements, run one at a time under an authorizer that refuses ATTACH, only
file names a data folder holds, and no value larger than any tipdrop stores.
"""

import contextlib
import functools
import os
import shutil
import sqlite3
import struct
import tempfile
from pathlib import Path

from tipdrop.common.files import fsync_dir
from tipdrop.crypto import canonical, stream
from tipdrop.crypto.backupkey import BackupPrivateKey
from tipdrop.errors import DecryptionError, FormatError, UsageError
from tipdrop.server import backup

#: No value tipdrop stores comes near this (attachment pieces are 1 MiB).
MAX_VALUE = 64 * 1024 * 1024
_BATCH_BYTES = 8 * 1024 * 1024
_BATCH_ROWS = 512
_SCHEMA_PREFIXES = ("CREATE TABLE ", "CREATE INDEX ", "CREATE UNIQUE INDEX ")


class BackupFormatError(DecryptionError):
    """The backup decrypted but its contents are not a tipdrop backup: it was forged or damaged."""


class NotABackupError(FormatError):
    """This file is not a tipdrop backup."""


class TargetNotEmptyError(UsageError):
    """The data folder to restore into is not empty: restore only onto an empty or new folder."""

    detail_is_message = False


def _authorizer(action, *args):
    return sqlite3.SQLITE_DENY if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) \
        else sqlite3.SQLITE_OK


class _Loader:
    """Applies the archive's records to a new database and folder as they arrive."""

    def __init__(self, folder):
        self.folder = folder
        self.db = sqlite3.connect(str(folder / "tipdrop.db"), isolation_level=None)
        self.db.set_authorizer(_authorizer)
        for pragma in ("PRAGMA page_size=65536", "PRAGMA journal_mode=OFF",
                       "PRAGMA synchronous=OFF", "PRAGMA foreign_keys=OFF"):
            self.db.execute(pragma)
        self.db.execute("BEGIN")
        self.records = 0
        self._table = None
        self._batch = []
        self._batch_bytes = 0

    def sql(self, text):
        if not text.startswith(_SCHEMA_PREFIXES):
            raise BackupFormatError("a schema statement is not CREATE TABLE or INDEX")
        try:
            self.db.execute(text)
        except (sqlite3.Error, sqlite3.Warning):
            raise BackupFormatError("a schema statement does not run") from None

    def table(self, name, rowid, columns):
        self.flush()
        self._name, self._rowid = name, rowid
        self._names = (["rowid"] if rowid else []) + list(columns)
        self._width = len(self._names)
        self._table = self._insert(["?"] * self._width)

    def _insert(self, params):
        return (f"INSERT INTO {backup._quote(self._name)} "
                f"({', '.join(map(backup._quote, self._names))}) VALUES ({', '.join(params)})")

    def row(self, values, size):
        if self._table is None or len(values) != self._width:
            raise BackupFormatError("a row does not fit its table")
        if any(isinstance(v, _Pieces) for v in values):
            self._large_row(values)
            return
        self._batch.append(values)
        self._batch_bytes += size
        if len(self._batch) >= _BATCH_ROWS or self._batch_bytes >= _BATCH_BYTES:
            self.flush()

    def flush(self):
        if self._batch:
            try:
                self.db.executemany(self._table, self._batch)
            except (sqlite3.Error, sqlite3.Warning):
                raise BackupFormatError("rows do not fit the schema") from None
        self._batch = []
        self._batch_bytes = 0

    def _large_row(self, values):
        """Insert a row with zeroblob placeholders, then write its large blobs in place."""
        self.flush()
        large = {i for i, v in enumerate(values) if isinstance(v, _Pieces)}
        if not self._rowid or 0 in large or not isinstance(values[0], int):
            # Only rowid tables get large blobs from tipdrop backup; anything else joins them.
            self._batch.append([b"".join(v.pieces) if i in large else v
                                for i, v in enumerate(values)])
            return self.flush()
        params = ["zeroblob(?)" if i in large else "?" for i in range(len(values))]
        try:
            self.db.execute(self._insert(params), [v.length if i in large else v
                                                   for i, v in enumerate(values)])
            for i in sorted(large):
                with self.db.blobopen(self._name, self._names[i], values[0]) as blob:
                    for piece in values[i].pieces:
                        blob.write(piece)
        except (sqlite3.Error, sqlite3.Warning, ValueError):
            raise BackupFormatError("rows do not fit the schema") from None

    def streams_large(self, values):
        """Whether a large blob ending the row begun with ``values`` can go straight into it."""
        return self._rowid and bool(values) and type(values[0]) is int

    def start_large(self, values, length):
        """Insert the row ``values`` with ``length`` zero bytes last; the blob to write them.

        So an attachment piece goes from the decrypted stream into its row
        as it arrives: not held in memory, not copied first (bench/backup.py).
        """
        self.flush()
        if len(values) != self._width - 1:
            raise BackupFormatError("a row does not fit its table")
        params = ["?"] * len(values) + ["zeroblob(?)"]
        try:
            self.db.execute(self._insert(params), [*values, length])
            return self.db.blobopen(self._name, self._names[-1], values[0])
        except (sqlite3.Error, sqlite3.Warning, ValueError):
            raise BackupFormatError("rows do not fit the schema") from None

    def open_file(self, name):
        if name != backup.TOKEN_SECRET and not backup.LEGACY_BLOB.fullmatch(name):
            raise BackupFormatError("the backup names a file a data folder does not hold")
        path = self.folder / name
        path.parent.mkdir(mode=0o700, exist_ok=True)
        return open(path, "xb", opener=lambda p, flags: os.open(p, flags, 0o600))

    def finish(self):
        self.flush()
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.close()


def _parse(loader, feed):
    """The archive grammar, as a generator fed by :class:`_Feed`: it yields when it needs more."""
    (length,) = struct.unpack(">I", (yield from feed.take(4)))
    if length > 4096:
        raise BackupFormatError("the archive header is too long")
    header = yield from feed.take(length)
    expected_start = canonical.encode(backup.ARCHIVE_LABEL, canonical.FORMAT_VERSION)
    if header[:len(expected_start)] != expected_start:
        raise BackupFormatError("the archive header is not a tipdrop backup's")
    while True:
        tag = (yield from feed.take(1))[0]
        if tag == backup.END:
            (count,) = struct.unpack(">Q", (yield from feed.take(8)))
            if count != loader.records:
                raise BackupFormatError("records are missing")
            return
        loader.records += 1
        if tag == backup.SQL:
            (n,) = struct.unpack(">I", (yield from feed.take(4)))
            loader.sql(_text((yield from feed.take(_bounded(n)))))
        elif tag == backup.TABLE:
            name = yield from _name(feed)
            rowid = (yield from feed.take(1))[0]
            (ncols,) = struct.unpack(">H", (yield from feed.take(2)))
            columns = []
            for _ in range(ncols):
                columns.append((yield from _name(feed)))
            loader.table(name, bool(rowid), columns)
        elif tag == backup.ROW:
            values, size = [], 0
            width = loader._width if loader._table else 0
            for i in range(width):
                # A large blob in a row's last column goes straight into its row.
                into = (functools.partial(loader.start_large, values)
                        if i == width - 1 and loader.streams_large(values) else None)
                value = yield from _value(feed, into)
                values.append(value)
                size += len(value) if isinstance(value, (bytes, str)) else 8
            if values and values[-1] is _STORED:
                continue
            loader.row(values, size)
        elif tag == backup.FILE:
            name = yield from _name(feed)
            (size,) = struct.unpack(">Q", (yield from feed.take(8)))
            with loader.open_file(name) as f:
                while size:
                    data = yield from feed.take_some(size)
                    f.write(data)
                    size -= len(data)
                f.flush()
                os.fsync(f.fileno())
        else:
            raise BackupFormatError(f"unknown record {tag}")


def _bounded(n):
    if n > MAX_VALUE:
        raise BackupFormatError("a value is larger than any tipdrop stores")
    return n


def _text(data):
    try:
        return bytes(data).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise BackupFormatError("text is not UTF-8") from None


def _name(feed):
    (n,) = struct.unpack(">H", (yield from feed.take(2)))
    return _text((yield from feed.take(n)))


#: What _value returns for a large blob it wrote into its row itself.
_STORED = object()


def _value(feed, into=None):
    """One value; a large blob goes through ``into(length)`` (a blob to write) if given."""
    kind = (yield from feed.take(1))[0]
    if kind == backup.NULL:
        return None
    if kind == backup.INT:
        return struct.unpack(">q", (yield from feed.take(8)))[0]
    if kind == backup.REAL:
        return struct.unpack(">d", (yield from feed.take(8)))[0]
    if kind in (backup.TEXT, backup.BLOB):
        (n,) = struct.unpack(">I", (yield from feed.take(4)))
        if kind == backup.BLOB and n > backup._LARGE and into is not None:
            remaining = _bounded(n)
            with into(n) as blob:
                while remaining:
                    piece = yield from feed.take_view(remaining)
                    try:
                        blob.write(piece)
                    except (sqlite3.Error, ValueError):
                        raise BackupFormatError("rows do not fit the schema") from None
                    remaining -= len(piece)
                    piece.release()
            return _STORED
        if kind == backup.BLOB and n > backup._LARGE:
            pieces, remaining = [], _bounded(n)
            while remaining:
                piece = yield from feed.take_some(min(remaining, stream.CHUNK_SIZE))
                pieces.append(piece)
                remaining -= len(piece)
            return _Pieces(pieces, n)
        data = yield from feed.take(_bounded(n))
        return _text(data) if kind == backup.TEXT else data
    raise BackupFormatError(f"unknown value type {kind}")


class _Pieces:
    """A large blob as the 64 KiB pieces it arrived in: written into its row with blobopen."""

    def __init__(self, pieces, length):
        self.pieces, self.length = pieces, length

    def __len__(self):
        return self.length


class _Feed:
    """A file object the stream decryptor writes into; drives the parser generator.

    Bytes not yet parsed wait in a buffer; while it is empty, the parser reads
    straight from the bytes being written (one copy less for attachment pieces).
    """

    def __init__(self, loader):
        self._buf = bytearray()
        self._pos = 0
        self._view = memoryview(b"")
        self.done = False
        self._parser = _parse(loader, self)
        self._resume()

    def close(self):
        """Stop the parser where it is (a failed restore), closing what it holds open."""
        self._parser.close()

    def _resume(self):
        try:
            next(self._parser)
        except StopIteration:
            self.done = True
            if self._pos != len(self._buf) or len(self._view):
                raise BackupFormatError("there are bytes after the end of the archive") from None

    def _direct(self, n):
        """Up to ``n`` bytes from the written bytes, if nothing is buffered before them."""
        if self._pos == len(self._buf) and len(self._view):
            data = bytes(self._view[:n])
            self._view = self._view[len(data):]
            return data
        return None

    def take(self, n):
        # Bytes are either all buffered or all in the view being written (see write).
        while len(self._buf) - self._pos < n:
            if self._pos == len(self._buf) and len(self._view) >= n:
                return self._direct(n)
            yield
        with memoryview(self._buf) as view:
            data = bytes(view[self._pos:self._pos + n])
        self._pos += n
        self._compact()
        return data

    def take_view(self, limit):
        """:meth:`take_some`, as a view of the bytes being written when it can be.

        Valid only until the parser yields again: write it out at once.
        """
        while len(self._buf) == self._pos and not len(self._view):
            yield
        if self._pos == len(self._buf) and len(self._view):
            data = self._view[:limit]
            self._view = self._view[len(data):]
            return data
        return memoryview((yield from self.take_some(limit)))

    def take_some(self, limit):
        while len(self._buf) == self._pos and not len(self._view):
            yield
        data = self._direct(limit)
        if data is not None:
            return data
        n = min(limit, len(self._buf) - self._pos)
        with memoryview(self._buf) as view:
            data = bytes(view[self._pos:self._pos + n])
        self._pos += n
        self._compact()
        return data

    def _compact(self):
        if self._pos >= 1024 * 1024 or self._pos == len(self._buf):
            del self._buf[:self._pos]
            self._pos = 0

    def write(self, data):
        if not len(data):
            return 0
        if self.done:
            raise BackupFormatError("there are bytes after the end of the archive")
        if self._pos == len(self._buf):
            self._view = memoryview(data).cast("B")
        else:
            self._buf += data
        try:
            self._resume()
        finally:
            # The caller may reuse its buffer: keep what the parser has not read yet.
            if len(self._view):
                self._compact()
                self._buf += self._view
            self._view.release() if isinstance(self._view, memoryview) else None
            self._view = memoryview(b"")
        return len(data)


def restore(file: Path, private: BackupPrivateKey, target: Path) -> dict:
    """Restore ``file`` into the empty or new folder ``target``; return what was restored."""
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TargetNotEmptyError(str(target))
    with open(file, "rb") as src:
        prefix = src.read(backup.PREFIX_LEN)
        created = backup.parse_prefix(prefix)
        if created is None:
            raise NotABackupError(str(file))
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.restore-"))
        loader = feed = None
        try:
            loader = _Loader(work)
            feed = _Feed(loader)
            stream.decrypt_stream(src, feed, private.opener, kind=backup.STREAM_KIND,
                                  tip_id=backup.STREAM_TIP_ID, part=prefix[8:].decode("ascii"))
            if not feed.done:
                raise BackupFormatError("the archive ends before its last record")
            loader.finish()
            counts = _counts(work / "tipdrop.db")
            _sync_tree(work)
            os.rename(work, target)  # replaces an empty folder
            fsync_dir(target.parent)
        except BaseException:
            if feed is not None:
                with contextlib.suppress(Exception):  # the error to report is the first one
                    feed.close()  # first: it may hold a blob of the database open
            if loader is not None:
                loader.db.close()
            shutil.rmtree(work, ignore_errors=True)
            raise
    counts["created"] = backup.created_text(created)
    return counts


def _counts(path):
    db = sqlite3.connect(str(path))
    try:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("tips", "followups", "replies", "attachments") if table in names}
    finally:
        db.close()


def _sync_tree(folder):
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            fsync_dir(path)
    fsync_dir(folder)
