"""Rate limits that hold per server, whatever the number of workers (docs/design.md, invariants 8 and 2).

gunicorn runs several worker processes. Counted in each process's memory, a
limit of N submits an hour let one client make N times the number of
workers; so the counts live in one place every worker of the server shares:
a small SQLite file in RAM (a tmpfs folder, ``TIPDROP_RUNTIME_DIR``, by
default ``/dev/shm``), never on a disk.

What that file holds, and what it never holds:

- For each counted request, ``HMAC-SHA256(day key, address)`` cut to 16
  bytes (the address as context.py counts it: an IPv6 client's /64),
  which limit it counts against, and when (the system's monotonic
  clock, seconds since boot). Rows older than their limit's window are
  deleted as the client comes back, and all of them when the day changes.
  No address, ever: the client is known only by the digest.
- The *day key*: 32 random bytes drawn by the first worker to count on a
  new UTC day, which in the same transaction deletes the previous key and
  every row counted under it (so every count starts over at 00:00 UTC,
  as it did per process before). So yesterday's digests cannot be turned back
  into addresses by anyone, even with the file and the process memory, and
  today's cannot be linked to yesterday's.
- The receipt locators reserved for devices (tipdrop/server/locators.py): each
  locator, SHA-256 of its token and its expiry on the monotonic clock, no
  client; deleted when the submit that spends it ends or its hour is up.
- The ids of accepted proof-of-work solutions (puzzles.py): each random id
  and its challenge's expiry (a whole minute), no client; deleted at that
  expiry, so a solution is spent once.
- When each unfinished resumable upload last moved
  (tipdrop/server/upload_moves.py): its id (a SHA-256 of the device's key)
  and the moment on the monotonic clock; deleted when the upload is stored
  or gone.

The key is kept next to the digests on purpose: the workers must share it
and no process outlives the others to hold it. Whoever can read the file
(the service's user, root) could test candidate addresses against today's
digests, as whoever can read a worker's memory could before; nothing of it
reaches a disk, a backup or the next boot. create_app refuses a runtime
folder that is not tmpfs or ramfs (:func:`check_in_memory`), the folder
and file are private (0700, 0600), ``secure_delete`` overwrites what is
deleted, and ``tipdrop serve`` (like systemd's ``RuntimeDirectory=``,
docs/deploy.md) removes the folder when the server stops. The file's folder
is named after a digest of the data folder's path, so all processes of one
server, and only they, count together.

A server that does not stop cleanly (kill -9, the OOM killer) cannot remove
its folder, and with it would stay the receipt pages' keys (pagelinks.py)
until the next boot. So each process using a folder holds a shared lock
(flock) on its :data:`HELD` file for as long as it lives (:func:`hold`); the
kernel drops the lock when the last of them dies, however it dies. ``tipdrop
serve`` at start removes every ``tipdrop-*`` folder of the runtime folder
that is provably a dead server's (:func:`sweep_stale`): named as tipdrop names
them, a private folder of this user, whose HELD file no process holds. A
folder without a HELD file (an older tipdrop's, or one being made) is never
touched, nor is a live server's.

Why SQLite: one write transaction per counted request (``BEGIN IMMEDIATE``)
serialises the count and the insert across processes, so two workers can
never both let through the request that reaches the limit; the cost is tens
of microseconds, beside Argon2's tens of milliseconds. The window is exact
(a sliding log), as the settings promise: at most ``limit`` events in any
``window`` seconds.
"""

import fcntl
import hashlib
import hmac
import os
import re
import secrets
import shutil
import sqlite3
import stat
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tipdrop.errors import ConfigError, TipdropError
from tipdrop.server.upload_moves import SCHEMA as UPLOAD_MOVES_SCHEMA
from tipdrop.server.web.limits import BusyError

T = TypeVar("T")

#: File systems that live in RAM only.
IN_MEMORY = {"tmpfs", "ramfs"}
FILE_NAME = "limits.db"
#: Locked (shared) by every process using the folder while it lives (hold).
HELD = "held"
#: The name shared_dir gives a server's folder.
_FOLDER_NAME = re.compile(r"tipdrop-[0-9a-f]{16}")
#: Rows (counted events, all limits together) the file may hold; past it,
#: expired rows are pruned, and if that is not enough the limit starts over.
MAX_EVENTS = 200_000
#: How often (in inserted rows) the total is looked at.
PRUNE_EVERY = 1024

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS day_key (one INTEGER PRIMARY KEY CHECK (one = 1),"
    " day INTEGER NOT NULL, key BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (name TEXT NOT NULL, client BLOB NOT NULL,"
    " at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_by_client ON events (name, client, at)",
    # Locators handed out to devices (tipdrop/server/locators.py): no report, no client.
    "CREATE TABLE IF NOT EXISTS reservations (locator TEXT PRIMARY KEY,"
    " token_hash BLOB NOT NULL, expires REAL NOT NULL, claimed INTEGER NOT NULL)",
    # Ids of accepted puzzle solutions until their challenge expires (puzzles.py): no client.
    "CREATE TABLE IF NOT EXISTS puzzles_spent (id BLOB PRIMARY KEY, expires INTEGER NOT NULL)"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS puzzles_by_expiry ON puzzles_spent (expires)",
    # When each unfinished resumable upload last moved (tipdrop/server/upload_moves.py).
    UPLOAD_MOVES_SCHEMA,
)


class RateLimitedError(TipdropError):
    """Too many attempts. Please wait a few minutes and try again."""

    http_status = 429


class RuntimeDirError(ConfigError):
    """The runtime folder for rate limits must be in RAM (tmpfs)."""

    detail_is_message = True


def filesystem_type(path, mounts="/proc/self/mounts"):
    """The type of the file system ``path`` is on, from the mount table (Linux)."""
    path = os.path.realpath(path)
    best, kind = "", None
    with open(mounts, encoding="utf-8") as table:
        for line in table:
            fields = line.split()
            if len(fields) < 3:
                continue
            point = fields[1].replace("\\040", " ")
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def check_in_memory(runtime_dir, mounts="/proc/self/mounts"):
    """Raise RuntimeDirError unless ``runtime_dir`` exists on tmpfs or ramfs."""
    runtime_dir = Path(runtime_dir)
    fix = ("set TIPDROP_RUNTIME_DIR to a folder in RAM: /dev/shm, or /run/tipdrop from "
           "systemd's RuntimeDirectory=tipdrop (docs/deploy.md)")
    if not runtime_dir.is_dir():
        raise RuntimeDirError(f"the runtime folder {runtime_dir} does not exist: {fix}")
    try:
        kind = filesystem_type(runtime_dir, mounts)
    except OSError:
        kind = None
    if kind not in IN_MEMORY:
        raise RuntimeDirError(
            f"the runtime folder {runtime_dir} is on {kind or 'an unknown file system'}, "
            f"not in RAM, and rate-limit keys must never reach a disk: {fix}")


def shared_dir(runtime_dir, data_dir):
    """The folder the processes serving ``data_dir`` share: one per server."""
    name = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return Path(runtime_dir) / f"tipdrop-{name}"


def remove_shared(runtime_dir, data_dir):
    """Delete the server's counters and key (when the server stops)."""
    shutil.rmtree(shared_dir(runtime_dir, data_dir), ignore_errors=True)


def _check_private(folder):
    info = os.lstat(folder)
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid()
            or info.st_mode & 0o077):
        raise RuntimeDirError(
            f"{folder} is not a private folder of this user (a link, another user's, or open "
            "to others), so the rate-limit key could leak: remove it and start again")


def _same_file(fd, path):
    try:
        here, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def hold(folder) -> int:
    """Make the server's ``folder`` if need be and hold it: a shared flock on its HELD file.

    Returns the file descriptor; the folder is this process's (and its
    children's, which inherit the descriptor) until it is closed or the
    process dies. A sweep may remove the folder between its making and the
    lock; then it is made again.
    """
    folder = Path(folder)
    for _attempt in range(100):
        folder.mkdir(mode=0o700, exist_ok=True)
        _check_private(folder)
        try:
            fd = os.open(folder / HELD, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
        except FileNotFoundError:
            continue  # swept right after the mkdir
        fcntl.flock(fd, fcntl.LOCK_SH)
        if _same_file(fd, folder / HELD):
            return fd
        os.close(fd)  # locked a file a sweep had just removed
    raise RuntimeDirError(f"{folder} keeps being removed: is another program deleting it?")


def sweep_stale(runtime_dir) -> int:
    """Remove the folders dead servers left in ``runtime_dir``; return how many.

    Only a folder named as :func:`shared_dir` names them, private to this
    user, whose HELD file exists and is held by no process (the lock is taken
    without waiting, and kept while the folder is removed, so no process can
    start using it meanwhile: :func:`hold` would lock the removed file, see
    it is gone, and make the folder again).
    """
    removed = 0
    try:
        entries = list(os.scandir(runtime_dir))
    except OSError:
        return 0
    for entry in entries:
        if not _FOLDER_NAME.fullmatch(entry.name):
            continue
        folder = Path(entry.path)
        try:
            _check_private(folder)
            fd = os.open(folder / HELD, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (OSError, RuntimeDirError):
            continue  # not ours, gone, or no HELD file: not provably dead
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live server's
            if _same_file(fd, folder / HELD):
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        finally:
            os.close(fd)
    return removed


def _utc_day():
    return int(time.time() // 86400)


class _Opened:
    """What one SharedCounts holds open in this process: the file's connection,
    the lock file and the HELD file (:func:`hold`); all closed with it."""

    def __init__(self) -> None:
        self.conn: sqlite3.Connection | None = None
        self.lock_fd: int | None = None
        self.held: int | None = None

    def close(self) -> None:
        conn, lock_fd, held = self.conn, self.lock_fd, self.held
        self.conn = self.lock_fd = self.held = None
        if conn is not None:
            conn.close()
        for fd in (lock_fd, held):
            if fd is not None:
                os.close(fd)


class SharedCounts:
    """The RAM file of one server's counters, opened once per process.

    A gunicorn worker is forked with whatever its parent holds, so the
    connection is (re)opened in the process that uses it; its threads share
    it under a lock, and processes take turns through a lock file.

    The folder's name can be guessed and /dev/shm is writable by every
    user, so a folder that is a link, belongs to another user or is open to
    others is refused rather than used: someone else could read the key.
    """

    def __init__(self, folder, day=_utc_day):
        self.folder = Path(folder)
        self.day = day
        self._lock = threading.Lock()
        self._pid = None
        self._inode = None
        #: The connection and descriptors, closed by :meth:`close` or when this
        #: object is collected: an app made and dropped (tests, the master's
        #: check in serve.py) leaves none open behind it.
        self._opened = _Opened()
        weakref.finalize(self, self._opened.close)

    @classmethod
    def for_server(cls, runtime_dir, data_dir, mounts="/proc/self/mounts"):
        check_in_memory(runtime_dir, mounts)
        shared = cls(shared_dir(runtime_dir, data_dir))
        with shared._lock:
            shared._connect()  # fail at start, not at the first reporter
        return shared

    def close(self):
        """Close the file and the lock file, and let go of the folder (the next use opens them again)."""
        with self._lock:
            self._opened.close()

    def _connect(self):
        opened = self._opened
        if opened.conn is not None and self._pid == os.getpid() and self._same_file():
            return opened.conn
        # First use, in a new (forked) process, or the file was removed or
        # replaced under us (an operator, a tmpfs cleaner): open the one the
        # other workers now use, or make it. The folder is held anew before
        # the old descriptors are closed, so it is never let go meanwhile.
        held = hold(self.folder)
        opened.close()
        opened.held = held
        path = self.folder / FILE_NAME
        if not path.exists():
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass  # another worker made it first
        conn = sqlite3.connect(str(path), timeout=10, isolation_level=None,
                               check_same_thread=False)
        for pragma in ("PRAGMA busy_timeout=10000", "PRAGMA secure_delete=ON",
                       "PRAGMA synchronous=OFF", "PRAGMA journal_mode=TRUNCATE"):
            conn.execute(pragma)
        for statement in SCHEMA:
            conn.execute(statement)
        # Processes take turns through a lock file: flock wakes the next one as
        # soon as the lock is free, where SQLite's busy handler would sleep.
        lock_fd = os.open(self.folder / "lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        opened.conn, opened.lock_fd, self._pid = conn, lock_fd, os.getpid()
        self._inode = os.stat(path).st_ino
        return conn

    def _same_file(self):
        try:
            return os.stat(self.folder / FILE_NAME).st_ino == self._inode
        except OSError:
            return False

    def hit(self, name, address, limit, window, now):
        """Count one event of limit ``name``; raise RateLimitedError past ``limit``.

        A count that cannot be written (the folder in RAM full or gone) is a
        503 "busy" (BusyError), never an internal error.
        """
        row = self.transaction(
            lambda conn: self._hit(conn, name, address, limit, window, now))
        if row is None:
            raise RateLimitedError()
        return row

    def forget(self, row):
        """Take back the event :meth:`hit` counted as ``row`` (see context.uncount_request)."""
        self.transaction(lambda conn: conn.execute("DELETE FROM events WHERE rowid = ?", [row]))

    def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` as one write transaction of all the server's processes.

        Also used by the locator reservations (tipdrop/server/locators.py), which
        live in this file for the same reasons as the counts. Any error
        rolls the transaction back; a file that cannot be written (OSError,
        sqlite3.Error) is a BusyError (503), and tipdrop's own errors pass
        through.
        """
        try:
            with self._lock:
                conn = self._connect()
                lock_fd = self._opened.lock_fd
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = work(conn)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                finally:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)
        except (OSError, sqlite3.Error):
            raise BusyError() from None
        return result

    def _client(self, conn, address):
        """The client as counted: HMAC-SHA256(day key, address), cut to 16 bytes."""
        return hmac.new(self._day_key(conn), address.encode(), hashlib.sha256).digest()[:16]

    def _hit(self, conn, name, address, limit, window, now):
        client = self._client(conn, address)
        conn.execute("DELETE FROM events WHERE name = ? AND client = ? AND at <= ?",
                     [name, client, now - window])
        (count,) = conn.execute("SELECT COUNT(*) FROM events WHERE name = ? AND client = ?",
                                [name, client]).fetchone()
        if count >= limit:
            return None
        row = conn.execute("INSERT INTO events (name, client, at) VALUES (?, ?, ?)",
                           [name, client, now]).lastrowid
        if row % PRUNE_EVERY == 0:
            self._prune(conn, name, window, now)
        return row

    def reached(self, name, address, limit, window, now):
        """Whether the next event of limit ``name`` would be refused; nothing is counted."""
        def count(conn):
            (events,) = conn.execute(
                "SELECT COUNT(*) FROM events WHERE name = ? AND client = ? AND at > ?",
                [name, self._client(conn, address), now - window]).fetchone()
            return events >= limit
        return self.transaction(count)

    def _day_key(self, conn):
        today = self.day()
        row = conn.execute("SELECT day, key FROM day_key").fetchone()
        if row is not None and row[0] == today:
            return row[1]
        # A new day: a new key, and every row counted under the old one goes with it.
        key = secrets.token_bytes(32)
        conn.execute("DELETE FROM events")
        conn.execute("INSERT OR REPLACE INTO day_key (one, day, key) VALUES (1, ?, ?)",
                     [today, key])
        return key

    def _prune(self, conn, name, window, now):
        conn.execute("DELETE FROM events WHERE name = ? AND at <= ?", [name, now - window])
        (total,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
        if total >= MAX_EVENTS:
            # Still full: this limit forgets everyone rather than grow without bound.
            conn.execute("DELETE FROM events WHERE name = ?", [name])

    def rows(self):
        """Every stored row of every table, for tests that look for what must not be there."""
        with self._lock:
            conn = self._connect()
            return {table: conn.execute(f"SELECT * FROM {table}").fetchall()
                    for table in ("day_key", "events", "reservations", "puzzles_spent",
                                  "upload_moves")}


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per (anonymised) client, per server."""

    def __init__(self, shared, name, limit, window, clock=time.monotonic):
        self.shared = shared
        self.name = name
        self.limit = limit
        self.window = window
        self.clock = clock

    def hit(self, address):
        """Record one event for ``address``; raise RateLimitedError past the limit.

        Returns a function that takes the event back.
        """
        row = self.shared.hit(self.name, address or "", self.limit, self.window, self.clock())
        return lambda: self.shared.forget(row)

    def reached(self, address):
        """Whether ``address`` is at the limit now (the next event would be refused)."""
        return self.shared.reached(self.name, address or "", self.limit, self.window,
                                   self.clock())
