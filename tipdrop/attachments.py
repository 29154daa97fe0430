"""Attachment files on the server: ciphertext only, written durably, swept when orphaned.

Uploads are encrypted while they stream in (DESIGN 4.1): what reaches the
disk is a tipdrop stream (docs/protocol.md section 5), first as a temporary
``.part`` file, renamed into place only after it is complete and synced, and
referenced by the database only in the transaction that stores its tip. A
crash in between leaves an unreferenced ciphertext file, which
:func:`sweep_orphans` removes at start-up.

Photos are the exception to pure streaming: their identifying metadata must
be removed before encryption, so a photo is held in memory (under a hard
limit) until it is complete, cleaned, then encrypted.
"""

import io
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from . import photos
from .crypto import stream
from .errors import InputError
from .files import fsync_dir

#: Photos are cleaned in memory; larger images are refused rather than sent
#: uncleaned. Phone photos are 2-12 MB.
MAX_PHOTO_BYTES = 32 * 1024 * 1024

_SNIFF_LEN = 8
_PHOTO_MAGIC = (photos.JPEG_MAGIC, photos.PNG_MAGIC)


class PhotoTooLargeError(InputError):
    """This photo is too large to be cleaned of identifying data. Please send a smaller one."""

    http_status = 413
    detail_is_message = False


def _blob_name():
    return secrets.token_hex(16) + ".bin"


@dataclass
class AttachmentWriter:
    """A writable file object for one uploaded file.

    It looks at the first bytes to tell photos from other files: other files
    go straight into a StreamEncryptor over a temporary file; photos are kept
    in memory until :meth:`finish` cleans and encrypts them.
    """

    directory: Path
    recipient: object
    tip_id: str
    part: str
    keep_location: bool
    _head: bytearray = field(default_factory=bytearray)
    _photo: io.BytesIO | None = None
    _encryptor: stream.StreamEncryptor | None = None
    _file: object = None
    size: int = 0

    def __post_init__(self):
        self.tmp_path = self.directory / "tmp" / (secrets.token_hex(16) + ".part")
        self.tmp_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def writable(self):
        return True

    def _start_stream(self):
        self._file = open(self.tmp_path, "xb")
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
        """Complete the ciphertext file; return what the attachment-info envelope says."""
        if self._encryptor is None and self._photo is None:
            self._decide()
        cleaned = None
        if self._photo is not None:
            cleaned = photos.clean(self._photo.getvalue(), None, self.keep_location)
            self._photo = None
            self._start_stream()
            self._encryptor.write(cleaned.data)
        self._encryptor.close()
        self._file.flush()
        os.fsync(self._file.fileno())
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
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)


def commit_blob(directory, tmp_path):
    """Move a finished ``.part`` file into place; return its blob name and size."""
    name = _blob_name()
    final = Path(directory) / name
    os.rename(tmp_path, final)
    fsync_dir(directory)
    return name, final.stat().st_size


def blob_path(directory, name):
    if "/" in name or not name.endswith(".bin"):
        raise ValueError("invalid blob name")
    return Path(directory) / name


def remove_blob(directory, name):
    """Overwrite then unlink a blob (DESIGN 4.9: deleted means gone)."""
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


#: A ``.part`` file older than this belongs to no upload still in flight
#: (the server's request timeout is far shorter).
STALE_PART_SECONDS = 6 * 3600
#: A blob is renamed into place moments before its tip commits; one that is
#: still unreferenced after this long was left by a crash.
STALE_BLOB_SECONDS = 600


def sweep_orphans(directory, referenced, now=None):
    """Delete stale temp files and unreferenced blobs left by a crash.

    Safe to run while the server works: files young enough to belong to a
    request in flight are left alone.
    """
    import time

    now = time.time() if now is None else now
    directory = Path(directory)
    removed = 0
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
    return removed


def _age(path, now):
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return -1
