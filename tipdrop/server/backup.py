"""Backups the server writes but cannot read, and their deletion on schedule.

``tipdrop backup`` reads the whole database inside one read transaction: in
WAL mode that is a consistent snapshot, the same one SQLite's online backup
copies page by page, while submits, checks and purges keep committing. What
it reads, it writes at once as records into a STREAM (docs/protocol.md
section 5) sealed to the operator's backup public key (section 16), so no
clear copy of the database is ever written anywhere: SQLite's backup API
needs a second database as its destination, a clear file on a disk (which
would outlive a purge if a crash left it behind) or in RAM (which grows with
the data). Memory stays one row and one 64 KiB chunk; the output appears
under its name only once complete and synced (files.atomic_file).

Deletion covers backups (docs/operations.md, "Backups"): every backup names
the second it was made, in clear and bound into its encryption, and
:func:`prune` overwrites and unlinks those older than ``TIPDROP_BACKUP_DAYS``.
"""

import datetime
import os
import re
import sqlite3
import struct
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tipdrop.common import sqlite
from tipdrop.common.files import atomic_file, fsync_dir
from tipdrop.crypto import stream
from tipdrop.crypto.backupkey import BackupPublicKey
from tipdrop.errors import ConfigError, UsageError

MAGIC = b"TDBACKUP"
CREATED_LEN = 20
PREFIX_LEN = len(MAGIC) + CREATED_LEN
#: Stream context of every backup: tip id "backup", part = the creation time.
STREAM_KIND = "backup"
STREAM_TIP_ID = "backup"
ARCHIVE_LABEL = "tipdrop/v1/backup"
SUFFIX = ".tdbackup"

# Record tags inside the sealed archive (docs/protocol.md section 16).
END, SQL, TABLE, ROW, FILE = 0, 1, 2, 3, 4
# Value types in a ROW record.
NULL, INT, REAL, TEXT, BLOB = 0, 1, 2, 3, 4

#: Files of the data folder a backup carries, besides the database.
TOKEN_SECRET = "token-secret"  # noqa: S105 (a file name, not a secret)
LEGACY_BLOB = re.compile(r"attachments/[0-9a-f]{1,64}\.bin")
_TIME = "%Y-%m-%dT%H:%M:%SZ"


class NoBackupKeyError(ConfigError):
    """No backup public key is set: make one with `tipdrop backup-keygen` and set TIPDROP_BACKUP_KEY."""


class NoDatabaseError(UsageError):
    """There is no tipdrop database to back up in this data folder."""

    detail_is_message = False


def created_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(_TIME)


def parse_created(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, _TIME).replace(tzinfo=datetime.UTC)


def default_name(created: str) -> str:
    return "tipdrop-" + created.replace("-", "").replace(":", "") + SUFFIX


class _Writer:
    """Records into the encryptor; counts them for the END record."""

    def __init__(self, encryptor):
        self._out = encryptor
        self.records = 0

    def raw(self, data):
        self._out.write(data)

    def record(self, tag, payload=b""):
        self._out.write(bytes([tag]) + payload)
        self.records += 1

    def row(self, values):
        """A ROW record, each value's bytes passed on without copying them first."""
        self.records += 1
        self._out.write(bytes([ROW]))
        for value in values:
            if isinstance(value, _LargeBlob):
                self._out.write(bytes([BLOB]) + struct.pack(">I", value.length))
                value.copy_to(self._out)
            elif isinstance(value, (bytes, memoryview)) and len(value) > 4096:
                self._out.write(bytes([BLOB]) + struct.pack(">I", len(value)))
                self._out.write(value)
            else:
                self._out.write(_value(value))


class _LargeBlob:
    """A blob read in pieces (Connection.blobopen): no 1 MiB allocation per attachment piece."""

    def __init__(self, db, table, column, rowid, length):
        self.db, self.table, self.column, self.rowid, self.length = db, table, column, rowid, length

    def copy_to(self, out):
        with self.db.conn.blobopen(self.table, self.column, self.rowid, readonly=True) as blob:
            remaining = self.length
            while remaining:
                # Several chunks at a time: the record's header puts the piece
                # off the encryptor's chunk boundaries, so it copies what does
                # not fill a whole chunk; per 64 KiB read, that was all of it.
                data = blob.read(min(remaining, stream.OUT_CHUNKS * stream.CHUNK_SIZE))
                if not data:
                    raise OSError("a blob shrank while it was read")
                out.write(data)
                remaining -= len(data)


#: Blobs larger than this are streamed in pieces rather than read whole.
_LARGE = 256 * 1024


def _name(text):
    data = text.encode("utf-8")
    return struct.pack(">H", len(data)) + data


def _value(v):
    if v is None:
        return b"\x00"
    if isinstance(v, int):
        return bytes([INT]) + struct.pack(">q", v)
    if isinstance(v, float):
        return bytes([REAL]) + struct.pack(">d", v)
    if isinstance(v, str):
        data = v.encode("utf-8", "surrogatepass")
        return bytes([TEXT]) + struct.pack(">I", len(data)) + data
    data = bytes(v)
    return bytes([BLOB]) + struct.pack(">I", len(data)) + data


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def _has_rowid(db, table):
    try:
        db.execute(f"SELECT rowid FROM {_quote(table)} LIMIT 0")
    except sqlite3.OperationalError:
        return False
    return True


def _dump(db, files, w):
    """Write the snapshot: schema, every table's rows, then the data folder's files."""
    objects = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', rowid").fetchall()
    for kind, name, sql in objects:
        if kind not in ("table", "index"):
            raise ConfigError(f"the database holds a {kind} ({name}) tipdrop did not make")
        data = sql.encode("utf-8")
        w.record(SQL, struct.pack(">I", len(data)) + data)
    tables = [name for kind, name, _ in objects if kind == "table"]
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        tables.append("sqlite_sequence")
    for table in tables:
        rowid = _has_rowid(db, table)
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({_quote(table)})")]
        w.record(TABLE, _name(table) + bytes([rowid]) + struct.pack(">H", len(columns))
                 + b"".join(_name(c) for c in columns))
        if not rowid:
            select = ", ".join(_quote(c) for c in columns)
            for row in db.execute(f"SELECT {select} FROM {_quote(table)}"):
                w.row(row)
            continue
        # A large blob comes as NULL with its length, and is then read in pieces.
        select = ", ".join(
            f"CASE WHEN typeof({q}) = 'blob' AND length({q}) > {_LARGE} THEN NULL ELSE {q} END, "
            f"CASE WHEN typeof({q}) = 'blob' AND length({q}) > {_LARGE} THEN length({q}) END"
            for q in map(_quote, columns))
        for row in db.execute(f"SELECT rowid, {select} FROM {_quote(table)} ORDER BY rowid"):
            values = [row[0]]
            for i, column in enumerate(columns):
                value, large = row[1 + 2 * i], row[2 + 2 * i]
                values.append(value if large is None
                              else _LargeBlob(db, table, column, row[0], large))
            w.row(values)
    for name, f in files:
        _write_file(w, name, f)


def _data_files(data_dir):
    """The token secret, and attachment files an older tipdrop left (before version 6)."""
    found = []
    secret = Path(data_dir) / TOKEN_SECRET
    if secret.is_file():
        found.append((TOKEN_SECRET, secret))
    folder = Path(data_dir) / "attachments"
    if folder.is_dir():
        for path in sorted(folder.glob("*.bin")):
            name = f"attachments/{path.name}"
            if LEGACY_BLOB.fullmatch(name):
                found.append((name, path))
    return found


#: More attachment files than this from a tipdrop before version 6: restart the server first.
MAX_LEGACY_FILES = 1000


class LegacyFilesError(ConfigError):
    """Too many attachment files of an older tipdrop are still in the data folder: restart the server (it moves them into the database), then back up."""


def _open_files(data_dir, stack):
    """Open the data folder's files before the snapshot starts.

    A server that starts moves legacy attachment files into the database and
    deletes them: a file opened first is read whole even if it is deleted
    meanwhile, and one already moved is in the snapshot, so none is lost.
    """
    found = _data_files(data_dir)
    if len(found) > MAX_LEGACY_FILES:
        raise LegacyFilesError(f"{len(found) - 1} files")
    opened = []
    for name, path in found:
        try:
            opened.append((name, stack.enter_context(open(path, "rb"))))
        except FileNotFoundError:
            pass  # moved into the database already
    return opened


def _write_file(w, name, f):
    size = os.fstat(f.fileno()).st_size
    w.record(FILE, _name(name) + struct.pack(">Q", size))
    remaining = size
    while remaining:
        data = f.read(min(remaining, stream.CHUNK_SIZE * 4))
        if not data:
            raise OSError(f"{name} shrank while it was read")
        w.raw(data)
        remaining -= len(data)


def write_backup(data_dir: Path, public: BackupPublicKey, out: Path,
                 now: datetime.datetime | None = None) -> Path:
    """Seal a consistent snapshot of ``data_dir`` to ``public`` into ``out``; return the path.

    ``out`` may be a folder: the file is then named after the creation time.
    """
    database = Path(data_dir) / "tipdrop.db"
    if not database.is_file():
        raise NoDatabaseError(str(database))
    created = created_text(now or datetime.datetime.now(datetime.UTC))
    out = Path(out)
    if out.is_dir():
        out = out / default_name(created)
    if out.exists():
        raise UsageError(f"{out} already exists")
    db = sqlite.connect(database)
    try:
        with atomic_file(out) as f:
            f.write(MAGIC + created.encode("ascii"))
            encryptor = stream.StreamEncryptor(f, public.recipient, kind=STREAM_KIND,
                                               tip_id=STREAM_TIP_ID, part=created)
            w = _Writer(encryptor)
            header = _archive_header(created)
            w.raw(struct.pack(">I", len(header)) + header)
            with ExitStack() as stack:
                files = _open_files(data_dir, stack)
                with sqlite.snapshot(db):
                    _dump(db, files, w)
            w.record(END, struct.pack(">Q", w.records))
            encryptor.close()
    finally:
        db.conn.close()
    return out


def _archive_header(created):
    from tipdrop.crypto import canonical

    return canonical.encode(ARCHIVE_LABEL, canonical.FORMAT_VERSION, created)


# --- backups on disk: age, prune ---------------------------------------------------


@dataclass(frozen=True)
class Found:
    path: Path
    created: datetime.datetime


def read_prefix(path: Path) -> datetime.datetime | None:
    """The creation time in a backup file's clear prefix; None if it is not a backup."""
    try:
        with open(path, "rb") as f:
            head = f.read(PREFIX_LEN)
    except OSError:
        return None
    return parse_prefix(head)


def parse_prefix(head: bytes) -> datetime.datetime | None:
    """The creation time in the first PREFIX_LEN bytes of a backup; None if they are not one."""
    if len(head) < PREFIX_LEN or head[: len(MAGIC)] != MAGIC:
        return None
    try:
        return parse_created(head[len(MAGIC):].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def find_backups(folder: Path) -> list[Found]:
    """Every backup file in ``folder`` (not below), with unfinished ones a crash left, oldest first."""
    found = []
    for path in Path(folder).iterdir():
        if path.is_file() and not path.is_symlink():
            created = read_prefix(path)
            if created is not None:
                found.append(Found(path, created))
    return sorted(found, key=lambda b: (b.created, b.path.name))


def prune(folder: Path, keep_days: int, now: datetime.datetime | None = None) -> list[Path]:
    """Overwrite and unlink the backups made more than ``keep_days`` days ago; return them."""
    if not Path(folder).is_dir():
        raise UsageError(f"{folder} is not a folder")
    now = now or datetime.datetime.now(datetime.UTC)
    cutoff = now - datetime.timedelta(days=keep_days)
    removed = []
    for backup in find_backups(folder):
        if backup.created < cutoff:
            _overwrite_and_unlink(backup.path)
            removed.append(backup.path)
    if removed:
        fsync_dir(folder)
    return removed


def _overwrite_and_unlink(path):
    """Zeros over the ciphertext before the unlink, as purge does with attachment files."""
    zeros = bytes(1024 * 1024)
    with open(path, "r+b") as f:
        remaining = os.fstat(f.fileno()).st_size
        while remaining:
            n = f.write(zeros[: min(remaining, len(zeros))])
            remaining -= n
        f.flush()
        os.fsync(f.fileno())
    os.unlink(path)
