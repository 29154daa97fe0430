"""Attachments on the server: ciphertext only, kept in the database, swept when orphaned.

Uploads are encrypted while they stream in (docs/design.md, invariant 1): what is stored is a
tipdrop stream (docs/protocol.md section 5), written piece by piece into the
database as a staged blob (store/blobs.py: no file per attachment, so no
file's times tell when a report arrived), and linked in the transaction
that stores its tip. A crash in between leaves a staged blob that nothing
refers to, which :func:`sweep_orphans` removes once it is two days old.

Photos are the exception to pure streaming: their identifying metadata must
be removed before encryption, so a photo is held in memory (under a hard
limit) until it is complete, cleaned, then encrypted.

Before version 6, each attachment was a file ``<hex>.bin`` in the
attachments folder. A server started on such a folder moves every file into
the database and deletes it (:func:`migrate_files`); until then, and for
any file it could not move, the file is read and deleted where it is.
"""

import io
import os
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tipdrop.common import photos, sqlite
from tipdrop.crypto import stream
from tipdrop.protocol.report import MAX_PHOTO_BYTES, PhotoTooLargeError
from tipdrop.server import store
from tipdrop.server.store import blobs

_SNIFF_LEN = 8
_PHOTO_MAGIC = (photos.JPEG_MAGIC, photos.PNG_MAGIC)


class BlobWriter:
    """A write-only file object that stores what it is given as a staged blob.

    Bytes are gathered into whole pieces (blobs.CHUNK_BYTES); :meth:`close`
    stores the rest. From the second piece on, pieces are stored by a thread
    of this writer's own, over a connection of its own, while the next ones
    arrive: storing a piece (SQLite writes it to the WAL, and again at a
    checkpoint) took half of an upload's time, and the thread that receives
    the body, parses and encrypts it waited for each (bench/RESULTS.md,
    "Attachment upload"). SQLite lets go of Python's lock while it works, so
    both go on at once. At most QUEUED pieces wait between the two: memory
    stays a few pieces per upload, and a database slower than the client
    slows the client down. A failure to store ends the upload at its next
    write (or at :meth:`close`); what was stored stays staged until
    :meth:`discard` or the sweep deletes it.
    """

    #: Whole pieces waiting to be stored, at most.
    QUEUED = 2

    def __init__(self, db, day):
        self.db = db
        self.blob = blobs.new(db, day)
        self.size = 0
        self._seq = 0
        self._piece = bytearray(blobs.CHUNK_BYTES)
        self._fill = 0
        self._storer = None
        self.closed = False

    def writable(self):
        return True

    def write(self, data):
        view = memoryview(data).cast("B")
        n = len(view)
        while len(view):
            take = min(len(view), blobs.CHUNK_BYTES - self._fill)
            self._piece[self._fill:self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == blobs.CHUNK_BYTES:
                self._piece = self._store(self._piece)
                self._fill = 0
        self.size += n
        return n

    def _store(self, piece):
        """Store ``piece`` or hand it over; return a buffer for the next one."""
        seq = self._seq
        self._seq += 1
        if seq == 0:
            blobs.append(self.db, self.blob, 0, piece)  # a small file needs no thread
            return piece  # SQLite copied it: free again
        if self._storer is None:
            self._storer = _Storer(self.db, self.blob, self.QUEUED)
        self._storer.put(seq, piece)
        return self._storer.spare()

    def close(self):
        if not self.closed:
            self.closed = True
            if self._fill or self._seq == 0:
                self._store(memoryview(self._piece)[:self._fill])
            self._piece = bytearray()
            if self._storer is not None:
                self._storer.finish()

    def discard(self):
        """Delete the staged blob. If the database refuses now, the sweep deletes it later."""
        self._piece = bytearray()
        self.closed = True
        if self._storer is not None:
            self._storer.stop()
        try:
            blobs.discard(self.db, self.blob)
        except sqlite3.Error:
            pass


class _Storer:
    """The thread that stores a BlobWriter's pieces, in order, over its own connection."""

    def __init__(self, db, blob, queued):
        self.blob = blob
        self.path = sqlite.path_of(db)
        self.error = None
        self._queue = queue.Queue(queued)
        # Pieces stored and free to fill again: a fresh 1 MiB buffer per
        # piece was zeroed, and faulted in again after glibc gave it back:
        # about 4 % of a sealed upload's request thread (bench/RESULTS.md,
        # "Attachment upload").
        # At most QUEUED + 2 buffers go round: one filling, one being stored.
        self._free = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tipdrop-blob-storer",
                                         daemon=True)
        self._thread.start()

    def put(self, seq, piece):
        """Hand a piece over; raise what stopped the thread, if something did."""
        if self.error is not None:
            raise self.error
        self._queue.put((seq, piece))

    def spare(self):
        """A stored piece's buffer to fill again, or a new one if none is free yet."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return bytearray(blobs.CHUNK_BYTES)

    def finish(self):
        """Wait until every piece is stored; raise what stopped the thread, if something did."""
        self.stop()
        if self.error is not None:
            raise self.error

    def stop(self):
        """Let the thread store what it holds (or drop it, after a failure) and end."""
        self._queue.put(None)
        self._thread.join()

    def _run(self):
        db = None
        try:
            db = sqlite.connect(self.path)
            blobs.staging_only(db)
            while (item := self._queue.get()) is not None:
                seq, piece = item
                blobs.append_staged(db, self.blob, seq, piece)
                if isinstance(piece, bytearray):  # SQLite copied it: free again
                    self._free.put(piece)
        except BaseException as error:  # noqa: BLE001 - handed to the writer's thread
            self.error = error
            # Keep taking pieces, so a writer waiting to hand one over goes on to see the error.
            while self._queue.get() is not None:
                pass
        finally:
            if db is not None:
                db.close()


@dataclass
class AttachmentWriter:
    """A writable file object for one uploaded file.

    It looks at the first bytes to tell photos from other files: other files
    go straight into a StreamEncryptor over a temporary file; photos are kept
    in memory until :meth:`finish` cleans and encrypts them.
    """

    db: object
    day: str
    recipient: object
    tip_id: str
    part: str
    keep_location: bool
    _head: bytearray = field(default_factory=bytearray)
    _photo: io.BytesIO | None = None
    _encryptor: stream.StreamEncryptor | None = None
    _file: BlobWriter | None = None
    size: int = 0

    def writable(self):
        return True

    @property
    def blob(self):
        """The staged blob's id (once :meth:`finish` returned)."""
        return self._file.blob

    @property
    def stored_size(self):
        """Bytes of ciphertext stored (once :meth:`finish` returned)."""
        return self._file.size

    def _start_stream(self):
        self._file = BlobWriter(self.db, self.day)
        self._encryptor = stream.StreamEncryptor(
            self._file, self.recipient, kind="attachment", tip_id=self.tip_id, part=self.part
        )

    def write(self, data):
        n = len(data)
        self.size += n
        if self._encryptor is not None:
            self._encryptor.write(data)
        elif self._photo is not None:
            if self.size > MAX_PHOTO_BYTES:
                raise PhotoTooLargeError()
            self._photo.write(data)
        else:
            self._head += data
            if len(self._head) >= _SNIFF_LEN:
                self._decide()
        return n

    def _decide(self):
        head, self._head = bytes(self._head), bytearray()
        if head.startswith(_PHOTO_MAGIC):
            self._photo = io.BytesIO()
            self._photo.write(head)
            if self.size > MAX_PHOTO_BYTES:
                raise PhotoTooLargeError()
        else:
            self._start_stream()
            self._encryptor.write(head)

    def finish(self):
        """Store the last of the ciphertext; return what the attachment-info envelope says."""
        if self._encryptor is None and self._photo is None:
            self._decide()
        cleaned = None
        if self._photo is not None:
            cleaned = photos.clean(self._photo.getvalue(), None, self.keep_location)
            self._photo = None
            self._start_stream()
            self._encryptor.write(cleaned.data)
        self._encryptor.close()
        self._file.close()
        info = {"size": self.size if cleaned is None else len(cleaned.data)}
        if cleaned is not None:
            info |= {
                "photo": cleaned.kind,
                "metadata_removed": list(cleaned.removed),
                "kept_location_and_time": self.keep_location,
            }
        return info

    @property
    def stream_header(self):
        """The stream's header, once :meth:`finish` ran: the report binds it."""
        return self._encryptor.header

    def discard(self):
        """Drop everything written so far (a failed or refused upload)."""
        self._photo = None
        if self._file is not None:
            self._file.discard()


@contextmanager
def open_blob(db, directory, name):
    """(readable file object, size) of a stored blob, in the database or a legacy file."""
    if not store.is_legacy_blob(name):
        yield blobs.Reader(db, name), blobs.size(db, name)
        return
    with open(blob_path(directory, name), "rb") as f:
        yield f, os.fstat(f.fileno()).st_size


def blob_path(directory, name):
    if "/" in name or not name.endswith(".bin"):
        raise ValueError("invalid blob name")
    return Path(directory) / name


def remove_blob(directory, name):
    """Overwrite then unlink a legacy blob file (deleted means gone, docs/threat-model.md)."""
    path = blob_path(directory, name)
    try:
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            zeros = bytes(1024 * 1024)
            left = size
            while left:
                n = min(left, len(zeros))
                f.write(zeros[:n])
                left -= n
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    except FileNotFoundError:
        pass  # already gone: another worker's sweep removed it first


#: A legacy ``.part`` file older than this belongs to no upload still in
#: flight (the server's request timeout is far shorter).
STALE_PART_SECONDS = 6 * 3600
#: A legacy blob was renamed into place moments before its tip committed;
#: one that is still unreferenced after this long was left by a crash.
STALE_BLOB_SECONDS = 600


def sweep_orphans(db, directory, today, now=None):
    """Delete what unfinished uploads left: stale staged blobs, and legacy files.

    Safe to run while the server works: a staged blob is deleted only two
    days after its upload began (blobs.sweep_staged), a legacy file only
    when old enough to belong to no request in flight.
    """
    removed = blobs.sweep_staged(db, today)
    directory = Path(directory)
    if not directory.exists():
        return removed
    now = time.time() if now is None else now
    referenced = store.referenced_blobs(db)
    # Every worker sweeps when it starts, possibly at the same moment as
    # another: a file vanishing under us is not an error.
    for tmp in (directory / "tmp").glob("*.part"):
        if _age(tmp, now) > STALE_PART_SECONDS:
            tmp.unlink(missing_ok=True)
            removed += 1
    for blob in directory.glob("*.bin"):
        if blob.name not in referenced and _age(blob, now) > STALE_BLOB_SECONDS:
            remove_blob(directory, blob.name)
            removed += 1
    _remove_if_empty(directory)
    return removed


def migrate_files(db, directory, today):
    """Move every legacy attachment file into the database, then delete the file.

    Each file is copied into a staged blob; one short transaction then
    points its row at the blob (if the row still names the file: a purge
    may have run meanwhile); only then is the file overwritten and
    unlinked. A crash in between leaves either the file still referenced
    (moved again next time) or an unreferenced file (swept) and a staged
    blob (swept). Returns how many files were moved.
    """
    directory = Path(directory)
    if not directory.exists():
        return 0
    moved = 0
    for (name,) in db.execute("SELECT blob FROM attachments WHERE blob LIKE '%.bin'").fetchall():
        try:
            source = open(blob_path(directory, name), "rb")
        except (FileNotFoundError, ValueError):
            continue  # missing already: nothing to move (an export reports it)
        with source:
            writer = BlobWriter(db, today)
            try:
                while piece := source.read(blobs.CHUNK_BYTES):
                    writer.write(piece)
                writer.close()
                with sqlite.transaction(db):
                    switched = db.execute("UPDATE attachments SET blob = ? WHERE blob = ?",
                                          [writer.blob, name]).rowcount
                    if switched:
                        blobs.link(db, [writer.blob])
                    else:
                        blobs.delete(db, [writer.blob])
            except BaseException:
                writer.discard()
                raise
        remove_blob(directory, name)
        moved += 1
    return moved


def _remove_if_empty(directory):
    """Remove the legacy folders once nothing is left in them."""
    for folder in (directory / "tmp", directory):
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty
            return


def _age(path, now):
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return -1
