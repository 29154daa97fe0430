"""Durable file writes: a file is either fully there or not there at all."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


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
