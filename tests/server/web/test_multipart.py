"""The streaming multipart reader finds every part however the body is cut, and nothing else.

tipdrop/server/web/multipart.py hands file bytes on as views of the pieces
the server returns; these tests feed it bodies in pieces of every size and
cut at every byte, with delimiter-like bytes inside the data, and check it
reports exactly the parts a whole-body parse gives, refuses every body that
ends before its close delimiter, and holds one piece in memory whatever the
size of the upload.
"""

import io
import os

import pytest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder

from tests.memory import peak_traced
from tipdrop.server.web.multipart import MAX_HEAD_BYTES, MalformedForm, MultipartReader

B = b"tipdropTESTboundary"
DELIM = b"\r\n--" + B


class _Collect:
    """Every part as (name, filename, bytes), and the largest view handed on."""

    def __init__(self):
        self.parts = []
        self.largest = 0

    def start_part(self, name, filename, headers):
        self.parts.append([name, filename, headers.get("content-type"), bytearray()])

    def data(self, view):
        assert isinstance(view, memoryview)
        self.largest = max(self.largest, len(view))
        self.parts[-1][3] += view

    def end_part(self):
        self.parts[-1][3] = bytes(self.parts[-1][3])


class _Pieces:
    """A body read in the given piece sizes (cycled); counts what was read."""

    def __init__(self, body, sizes):
        self.body, self.sizes, self.at, self.turn = body, sizes, 0, 0

    def read(self, size):
        n = min(size, self.sizes[self.turn % len(self.sizes)])
        self.turn += 1
        piece = self.body[self.at:self.at + n]
        self.at += len(piece)
        return piece


def _parse(body, sizes=(1 << 20,), read_size=1 << 20, max_parts=64, max_preamble=1024):
    source = _Pieces(body, list(sizes))
    sink = _Collect()
    MultipartReader(source.read, B, sink, read_size=read_size, max_parts=max_parts,
                    max_preamble=max_preamble).run()
    return [tuple(part) for part in sink.parts], source


def _part(name, data, filename=None, content_type=None):
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"Content-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return b"--" + B + b"\r\n" + head.encode() + b"\r\n" + data + b"\r\n"


def _form(*parts, preamble=b"", epilogue=b""):
    return preamble + b"".join(parts) + b"--" + B + b"--\r\n" + epilogue


#: File bytes full of what a delimiter starts with: a CR, CRLF, CRLF-, CRLF--, the
#: boundary without its line break, one byte short, or one byte off, at the very end.
TRICKY = (b"\r" + b"\r\n" + b"x\r\n-" + b"\r\n--" + b"--" + B + b"\r\n" + DELIM[:-1] + b"\r\n"
          + DELIM[:-1] + b"X" + b"\n--" + B + b"\r\n-" + b"\r")
PARTS = [("region", None, None, b"astana"),
         ("category", None, None, b""),
         ("files", "clip.mp4", "video/mp4", TRICKY * 3 + os.urandom(300) + TRICKY)]


def _tricky_form():
    return _form(*(_part(n, d, f, t) for n, f, t, d in PARTS))


def test_every_part_is_found_whole_read_at_once():
    parts, _ = _parse(_tricky_form())
    assert parts == PARTS


@pytest.mark.parametrize("size", [1, 2, 3, 5, len(DELIM) - 1, len(DELIM), len(DELIM) + 1, 64])
def test_a_delimiter_split_across_reads_is_still_found(size):
    assert _parse(_tricky_form(), sizes=[size], read_size=size)[0] == PARTS


def test_a_body_cut_in_two_anywhere_parses_the_same():
    body = _tricky_form()
    for cut in range(1, len(body)):
        assert _parse(body, sizes=[cut, len(body)])[0] == PARTS, cut


def test_delimiter_like_bytes_at_the_end_of_every_read_stay_data():
    data = b"".join(DELIM[:k] + b"\0" for k in range(1, len(DELIM)))
    body = _form(_part("files", data, "a.bin"))
    for size in (7, 13, len(DELIM) + 2):
        assert _parse(body, sizes=[size], read_size=size)[0] == [("files", "a.bin", None, data)]


def test_a_body_that_ends_before_its_close_delimiter_is_refused_wherever_it_ends():
    body = _tricky_form()
    closed = len(body) - len(b"\r\n")  # after "--boundary--" the line break is optional
    assert _parse(body[:closed])[0] == PARTS
    for end in range(closed):
        with pytest.raises((MalformedForm, RequestEntityTooLarge)):
            _parse(body[:end], sizes=[max(1, end // 3)])


def test_a_body_without_a_close_delimiter_is_refused():
    body = _part("region", b"astana") + _part("files", b"data", "a.bin")
    with pytest.raises(MalformedForm, match="ended inside"):
        _parse(body)


def test_the_preamble_and_epilogue_are_skipped_and_the_epilogue_never_read():
    epilogue = b"anything at all " * 1000
    body = _form(_part("region", b"astana"), preamble=b"This is a preamble.\r\n",
                 epilogue=epilogue)
    parts, source = _parse(body, sizes=[16], read_size=16)
    assert parts == [("region", None, None, b"astana")]
    assert source.at < len(body) - len(epilogue) + 16


def test_a_preamble_longer_than_allowed_is_refused():
    body = _form(_part("region", b"astana"), preamble=b"p" * 2000 + b"\r\n")
    with pytest.raises(MalformedForm, match="preamble"):
        _parse(body, max_preamble=1024)
    assert _parse(body, max_preamble=4096)[0] == [("region", None, None, b"astana")]


def test_a_body_with_no_delimiter_at_all_is_refused():
    with pytest.raises(MalformedForm):
        _parse(b"region=astana&category=fraud", max_preamble=1 << 20)


def test_more_parts_than_allowed_are_refused():
    body = _form(*(_part(f"f{n}", b"x") for n in range(5)))
    assert len(_parse(body, max_parts=5)[0]) == 5
    with pytest.raises(RequestEntityTooLarge):
        _parse(body, max_parts=4)


@pytest.mark.parametrize("head", [
    b"Content-Type: text/plain\r\n",  # no Content-Disposition
    b"Content-Disposition: form-data; name=\"\xff\"\r\n",  # not UTF-8
    b"Content-Disposition form-data\r\n",  # no colon
    b"Content-Disposition: form-data; name=\"x\"; junk=\"" + b"y" * MAX_HEAD_BYTES + b"\"\r\n",
])
def test_malformed_or_oversized_part_headers_are_refused(head):
    body = b"--" + B + b"\r\n" + head + b"\r\ndata\r\n--" + B + b"--\r\n"
    with pytest.raises(MalformedForm):
        _parse(body, sizes=[4096])


def test_bare_line_feeds_are_not_a_multipart_body():
    body = _form(_part("region", b"astana")).replace(b"\r\n", b"\n")
    with pytest.raises(MalformedForm):
        _parse(body)


def test_an_invalid_boundary_is_refused_before_reading():
    with pytest.raises(MalformedForm, match="boundary"):
        MultipartReader(lambda n: pytest.fail("read"), b"bad\r\nboundary", _Collect(),
                        read_size=1024, max_parts=1, max_preamble=0)


def test_padding_after_a_delimiter_and_folded_headers_are_read():
    body = (b"--" + B + b"  \t\r\nContent-Disposition: form-data;\r\n\tname=\"files\";"
            b" filename=\"a b.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--" + B + b"--")
    assert _parse(body)[0] == [("files", "a b.txt", "text/plain", b"hello")]


def test_what_werkzeugs_own_client_sends_is_read_empty_fields_included():
    """Werkzeug ends an empty part with its headers (no blank line): RFC 2046 allows it."""
    builder = EnvironBuilder(method="POST", data={
        "region": "astana", "website": "", "description": "ü" * 10,
        "files": (io.BytesIO(TRICKY), "x.bin", "application/octet-stream")})
    environ = builder.get_environ()
    boundary = environ["CONTENT_TYPE"].partition("boundary=")[2].strip('"').encode()
    sink = _Collect()
    MultipartReader(environ["wsgi.input"].read, boundary, sink, read_size=5, max_parts=8,
                    max_preamble=0).run()
    assert [tuple(p) for p in sink.parts] == [
        ("region", None, None, b"astana"), ("website", None, None, b""),
        ("description", None, None, ("ü" * 10).encode()),
        ("files", "x.bin", "application/octet-stream", TRICKY)]


class _Generated:
    """A multipart body of ``size`` file bytes made as it is read, never held whole."""

    def __init__(self, size):
        self.head = _part("region", b"astana") + (
            b"--" + B + b'\r\nContent-Disposition: form-data; name="f"; filename="v"\r\n\r\n')
        self.tail = b"\r\n--" + B + b"--\r\n"
        self.left = size
        self.block = os.urandom(1 << 20)

    def read(self, size):
        if self.head:
            piece, self.head = self.head, b""
            return piece
        if self.left:
            n = min(size, self.left, len(self.block))
            self.left -= n
            return self.block[:n]  # a fresh bytes object, as a server's read returns
        piece, self.tail = self.tail, b""
        return piece


def _peak_while_parsing(size):
    class Count(_Collect):
        total = 0

        def start_part(self, *args):
            pass

        def data(self, view):
            self.total += len(view)

        def end_part(self):
            pass

    sink = Count()
    source = _Generated(size)
    peak = peak_traced(MultipartReader(source.read, B, sink, read_size=1 << 20, max_parts=4,
                                       max_preamble=0).run)
    assert sink.total == size + len(b"astana")
    return peak


def test_memory_stays_one_piece_whatever_the_upload_size():
    small, large = _peak_while_parsing(4 << 20), _peak_while_parsing(64 << 20)
    assert large < small + (256 << 10)
    assert large < 3 << 20  # the source's piece and at most one joined piece
