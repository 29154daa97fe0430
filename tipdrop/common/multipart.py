"""multipart/form-data bodies written part by part, files streamed from disk.

The reference reporter client (tipdrop.reporter.client) uploads reports of
any size this way: the body's exact length is known before the first byte
is sent, so it goes with a Content-Length (some proxies refuse chunked
uploads), and no file is ever loaded into memory whole.
"""

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from tipdrop.errors import UsageError

COPY_CHUNK = 1024 * 1024
_NAME = re.compile(r"[a-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body: a text field, or a file from memory or disk."""

    name: str
    data: bytes = b""
    path: Path | None = None
    filename: str | None = None  # file parts need one: the server skips nameless file parts

    def size(self):
        return os.stat(self.path).st_size if self.path is not None else len(self.data)


class MultipartBody:
    """A body of ``parts`` in order, with a random boundary; ``length`` is exact."""

    def __init__(self, parts, boundary=None):
        self.boundary = boundary or "tipdrop-" + secrets.token_hex(16)
        #: The parts in order (a resumable upload sends the file parts without the framing).
        self.parts = tuple(parts)
        self._parts = [(self._head(part), part, part.size()) for part in parts]
        self._tail = f"--{self.boundary}--\r\n".encode("ascii")
        self.length = sum(len(head) + size + 2 for head, _, size in self._parts) + len(self._tail)

    @property
    def content_type(self):
        return f"multipart/form-data; boundary={self.boundary}"

    def _head(self, part):
        # Names are ours (fields and tip/aN parts): plain ASCII, nothing to escape.
        for value in (part.name, part.filename):
            if value is not None and not _NAME.fullmatch(value):
                raise ValueError(f"unsafe multipart name {value!r}")
        disposition = f'form-data; name="{part.name}"'
        head = f"--{self.boundary}\r\nContent-Disposition: {disposition}"
        if part.filename is not None:
            head += f'; filename="{part.filename}"\r\nContent-Type: application/octet-stream'
        return (head + "\r\n\r\n").encode("ascii")

    def chunks(self):
        """The body's bytes, at most COPY_CHUNK at a time."""
        for head, part, size in self._parts:
            yield head
            if part.path is None:
                yield part.data
            else:
                yield from _read_exactly(Path(part.path), size)
            yield b"\r\n"
        yield self._tail


def _read_exactly(path, size):
    with open(path, "rb") as f:
        left = size
        while left:
            chunk = f.read(min(COPY_CHUNK, left))
            if not chunk:
                raise UsageError(f"{path.name} became shorter while it was being sent")
            left -= len(chunk)
            yield chunk
        if f.read(1):
            raise UsageError(f"{path.name} became longer while it was being sent")
