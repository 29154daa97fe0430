"""A streaming multipart/form-data reader that hands file bytes on without copying them.

Werkzeug's decoder (werkzeug.sansio.multipart) copies every byte of a part
into its own buffer, out of it into an event, and looks for the boundary in
64 KiB slices: with the bytes the server had already copied, that was about
a sixth of a large upload's time (bench/RESULTS.md, "Attachment upload").
This reader takes each piece of the body as the server returns it, finds
the delimiter with ``bytes.find`` and hands the bytes between delimiters to
the part's handler as memoryviews of that piece: no copy of its own. The
handler must not keep a view after its ``data`` call returns (every writer
in tipdrop copies or encrypts what it is given at once).

What it accepts is RFC 7578's form (RFC 2046's multipart syntax): an
optional preamble, parts delimited by ``CRLF--boundary`` (the first one may
stand at the very start of the body), each with its header lines, a blank
line and its bytes; a close delimiter ``--boundary--``, after which nothing
is read (the epilogue is ignored). Line breaks are CRLF, as every browser
and HTTP library sends them. Everything else is :class:`MalformedForm`:
a body that ends before the close delimiter, a part without headers or
without a Content-Disposition, headers that are not UTF-8 or longer than
MAX_HEAD_BYTES, a preamble longer than the caller allows. More than
``max_parts`` parts is RequestEntityTooLarge, as it was with Werkzeug.

Memory is one piece of the body (what ``read`` returns) and at most a head
of MAX_HEAD_BYTES, whatever the size of the upload.
"""

import re
from collections.abc import Callable
from typing import Protocol

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header

#: A part's header lines, all together, at most (browsers send a few hundred bytes).
MAX_HEAD_BYTES = 16 * 1024
#: Spaces and tabs allowed after a delimiter, before its line break (RFC 2046's padding).
MAX_PADDING = 64
#: RFC 2046's boundary characters, not ending with a space; RFC 2046 says at
#: most 70 of them, but Werkzeug's own test client sends 72: up to 200 are read.
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,199}[0-9A-Za-z'()+_,\-./:=?]")


class MalformedForm(ValueError):
    """The body is not a well-formed multipart form, or it ended before its close delimiter."""


class Handler(Protocol):
    """What the reader tells about the parts it finds, in order."""

    def start_part(self, name: str | None, filename: str | None, headers: dict[str, str]) -> None:
        ...

    def data(self, view: memoryview) -> None:
        ...

    def end_part(self) -> None:
        ...


def valid_boundary(boundary: bytes) -> bool:
    return _BOUNDARY.fullmatch(boundary) is not None


class MultipartReader:
    """Read one multipart body from ``read(size)`` (bytes; b"" at its end) into ``handler``."""

    def __init__(self, read: Callable[[int], bytes], boundary: bytes, handler: Handler, *,
                 read_size: int, max_parts: int, max_preamble: int) -> None:
        if not valid_boundary(boundary):
            raise MalformedForm("the multipart boundary is not a valid one")
        self._read = read
        self._delim = b"\r\n--" + boundary
        self._handler = handler
        self._read_size = read_size
        self._max_parts = max_parts
        self._max_preamble = max_preamble
        # The body as if a line break came before it: a first delimiter at
        # its very start is then found like every other one.
        self._buf = b"\r\n"
        self._pos = 0
        self._parts = 0

    def run(self) -> None:
        """Read up to and including the close delimiter; raise MalformedForm if it never comes."""
        self._skip_preamble()
        while self._after_delimiter():
            self._parts += 1
            if self._parts > self._max_parts:
                raise RequestEntityTooLarge()
            name, filename, headers = self._head()
            self._handler.start_part(name, filename, headers)
            self._part_data()
            self._handler.end_part()

    def _more(self) -> bool:
        """Append the next piece of the body to what is left unparsed; False at its end."""
        piece = self._read(self._read_size)
        if not piece:
            return False
        rest = self._buf[self._pos:]
        self._buf = rest + piece if rest else piece
        self._pos = 0
        return True

    def _need(self, n: int) -> None:
        while len(self._buf) - self._pos < n:
            if not self._more():
                raise MalformedForm("the body ended inside the form")

    def _kept_tail(self, start: int) -> int:
        """Where a delimiter may begin that the end of the buffer cuts short (else its length).

        The delimiter holds one CR, its first byte (a boundary has none), so
        only the last CR of the buffer's last len(delimiter) - 1 bytes can start one.
        """
        buf, end = self._buf, len(self._buf)
        cr = buf.rfind(b"\r", max(start, end - len(self._delim) + 1))
        if cr != -1 and self._delim.startswith(buf[cr:]):
            return cr
        return end

    def _skip_preamble(self) -> None:
        skipped = -2  # the line break put before the body is none of it
        while (at := self._buf.find(self._delim, self._pos)) == -1:
            keep = self._kept_tail(self._pos)
            skipped += keep - self._pos
            if skipped > self._max_preamble:
                raise MalformedForm("the preamble is too long")
            self._pos = keep
            if not self._more():
                raise MalformedForm("the body has no multipart delimiter")
        if skipped + at - self._pos > self._max_preamble:
            raise MalformedForm("the preamble is too long")
        self._pos = at + len(self._delim)

    def _after_delimiter(self) -> bool:
        """Just past a delimiter: False if it closes the form, else skip to its line break."""
        self._need(2)
        if self._buf[self._pos:self._pos + 2] == b"--":
            return False
        padding = 0
        while self._buf[self._pos:self._pos + 1] in (b" ", b"\t"):
            padding += 1
            if padding > MAX_PADDING:
                raise MalformedForm("a delimiter line is too long")
            self._pos += 1
            self._need(2)
        if self._buf[self._pos:self._pos + 2] != b"\r\n":
            raise MalformedForm("a delimiter is not followed by a line break")
        return True  # the position stays on the line break: the head's search starts there

    def _head(self) -> tuple[str | None, str | None, dict[str, str]]:
        """Parse a part's header lines, from the delimiter's line break to the blank line."""
        while (end := self._buf.find(b"\r\n\r\n", self._pos)) == -1:
            if len(self._buf) - self._pos > MAX_HEAD_BYTES:
                raise MalformedForm("the headers of a part are too long")
            if not self._more():
                raise MalformedForm("the body ended inside the headers of a part")
        if end - self._pos > MAX_HEAD_BYTES:
            raise MalformedForm("the headers of a part are too long")
        block = self._buf[self._pos + 2:end]
        # On the blank line's line break: it starts the next delimiter if the
        # part has no bytes at all (RFC 2046 lets a part end with its headers;
        # Werkzeug's test client sends empty fields so).
        self._pos = end + 2
        self._need(len(self._delim))  # a close delimiter is longer still
        if not self._buf.startswith(self._delim, self._pos):
            self._pos += 2
        headers: dict[str, str] = {}
        last = None
        try:
            for line in block.decode("utf-8").split("\r\n"):
                if line[:1] in (" ", "\t") and last is not None:  # a folded line continues
                    headers[last] += " " + line.strip(" \t")
                    continue
                name, colon, value = line.partition(":")
                if not colon or not name.strip(" \t"):
                    raise MalformedForm("a header line of a part is malformed")
                last = name.strip(" \t").lower()
                headers[last] = value.strip(" \t")
        except UnicodeDecodeError:
            raise MalformedForm("the headers of a part are not UTF-8") from None
        if "content-disposition" not in headers:
            raise MalformedForm("a part has no Content-Disposition")
        _, options = parse_options_header(headers["content-disposition"])
        return options.get("name"), options.get("filename"), headers

    def _part_data(self) -> None:
        """Hand on a part's bytes up to the next delimiter, which is then passed."""
        handler, delim = self._handler, self._delim
        while True:
            buf, pos = self._buf, self._pos
            at = buf.find(delim, pos)
            if at != -1:
                if at > pos:
                    handler.data(memoryview(buf)[pos:at])
                self._pos = at + len(delim)
                return
            keep = self._kept_tail(pos)
            if keep > pos:
                handler.data(memoryview(buf)[pos:keep])
            self._pos = keep
            if not self._more():
                raise MalformedForm("the body ended inside a part")
