"""Files: durable writes (a file is either fully there or not there at all), and bounded reads."""

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tipdrop.errors import InputError


class NotARegularFileError(InputError):
    """This is not a regular file."""


class FileTooLargeError(InputError):
    """The file is larger than its format allows."""


def read_bounded(path, limit: int, what: str) -> bytes:
    """The whole of ``path``, once it is a regular file of at most ``limit`` bytes.

    A file someone handed over is checked before a byte of it is read: a
    device (``/dev/zero`` never ends), a pipe (a read waits for ever for a
    writer) or a folder is refused, and so is a file larger than its format
    allows (``limit``), from its size alone. A file that grows while it is
    read is refused too: at most ``limit + 1`` bytes are ever read. ``what``
    names the format in the message ("a reply bundle").
    """
    name = Path(path).name
    # O_NONBLOCK: opening a pipe must not wait for a writer (reads of a file are unaffected).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise InputError(f"cannot read {name}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd)
        if not stat.S_ISREG(size.st_mode):
            raise NotARegularFileError(f"{name} is not a regular file, so not {what}")
        if size.st_size > limit:
            raise FileTooLargeError(f"{name} is {size.st_size} bytes: {what} is at most "
                                    f"{limit} bytes")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(f"{name} grew past {limit} bytes while it was read: {what} "
                                f"is at most {limit} bytes")
    return data


def fsync_dir(path):
    """Make a rename or unlink in ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path, mode=0o600, overwrite=False):
    """Yield a binary file that appears at ``path`` only once complete and synced.

    Written to a temporary file in the same folder, fsynced, then renamed
    (``overwrite=True``) or hard-linked, which fails if the name is taken.
    On any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
        fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path, data, mode=0o600, overwrite=False):
    """Write ``data`` to ``path`` all at once or not at all (see atomic_file)."""
    with atomic_file(path, mode, overwrite) as f:
        f.write(data)
