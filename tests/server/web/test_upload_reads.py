"""A large upload is read from the server in large pieces, and still parsed under the form limits.

gunicorn copies the whole of its read-ahead buffer (up to 1 MiB) on every
read of a body, so reading 64 KiB at a time spent a third of an upload
copying (bench/RESULTS.md, "Attachment upload"). The views read 1 MiB at a
time and hand views of each piece to the writers (tipdrop/server/web/multipart.py);
the form's limits hold all the same, and a body broken after several pieces
leaves nothing stored.
"""

import io
import os
import tracemalloc

from tipdrop.common import sqlite
from tipdrop.server import attachments
from tipdrop.server.store import blobs
from tipdrop.server.web.upload import MAX_FIELD_BYTES

from .test_reporter import _assert_nothing_stored

BOUNDARY = "tipdroptestreads"


class _Recording(io.RawIOBase):
    """A request body that remembers the largest read asked of it."""

    def __init__(self, data):
        self._data = io.BytesIO(data)
        self.largest = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        return self._data.seek(offset, whence)

    def tell(self):
        return self._data.tell()

    def readinto(self, buffer):
        self.largest = max(self.largest, len(buffer))
        return self._data.readinto(buffer)

    def read(self, size=-1):
        self.largest = max(self.largest, size)
        return self._data.read(size)


def _body(file_bytes, description="A video of it."):
    fields = (("region", "astana"), ("category", "fraud"), ("description", description))
    head = "".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n" for name, value in fields)
    head += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
             'filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n')
    return head.encode() + file_bytes + f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_large_upload_is_read_a_mebibyte_at_a_time_and_stored_whole(client, app):
    assert 1024 * 1024 > MAX_FIELD_BYTES  # a piece that size, given whole, is refused
    file_bytes = b"\0" + os.urandom(3 * 1024 * 1024)
    body = _Recording(_body(file_bytes))
    made = client.post("/api/v1/tips", input_stream=body, content_length=len(body._data.getvalue()),
                       content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert made.status_code == 201, made.get_data()
    assert body.largest >= 1024 * 1024
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    [row] = list(db["attachments"].rows)
    assert row["size"] > len(file_bytes)  # the whole file, encrypted and padded


def _post(client, body):
    return client.post("/api/v1/tips", data=body,
                       content_type=f"multipart/form-data; boundary={BOUNDARY}")


def test_an_upload_cut_short_after_several_pieces_is_refused_and_nothing_stays(client, app):
    whole = _body(b"\0" + os.urandom(5 * 1024 * 1024))
    # Cut inside the close delimiter: every file byte arrived, the form never ended.
    response = _post(client, whole[:-len(f"{BOUNDARY}--\r\n") + 3])
    assert response.status_code == 400, response.get_data()
    _assert_nothing_stored(app)


def test_a_field_over_its_limit_is_refused_and_nothing_stays(client, app):
    response = _post(client, _body(b"\0" + os.urandom(2 * 1024 * 1024),
                                   description="x" * (MAX_FIELD_BYTES + 1)))
    assert response.status_code == 413
    _assert_nothing_stored(app)


def test_a_preamble_and_an_epilogue_around_the_form_are_ignored(client, app):
    file_bytes = b"\0" + os.urandom(2 * 1024 * 1024)
    body = b"A preamble, which readers ignore.\r\n" + _body(file_bytes) + b"An epilogue." * 100
    assert _post(client, body).status_code == 201
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    [row] = list(db["attachments"].rows)
    assert row["size"] > len(file_bytes)


class _Generated(io.RawIOBase):
    """A multipart body with ``size`` file bytes, made as it is read: never held whole."""

    def __init__(self, size):
        head = _body(b"")
        cut = head.index(f"\r\n--{BOUNDARY}--".encode())
        self.head, self.tail = head[:cut], head[cut:]
        self.length = len(head) + size
        self.told = 0
        self.left = size
        self.block = b"\0" + os.urandom(1024 * 1024 - 1)

    def readable(self):
        return True

    # Werkzeug's test client measures the body by seeking to its end and back.
    def seekable(self):
        return True

    def tell(self):
        return self.told

    def seek(self, offset, whence=io.SEEK_SET):
        assert (offset, whence) in ((0, io.SEEK_END), (0, io.SEEK_SET))
        self.told = self.length if whence == io.SEEK_END else 0
        return self.told

    def readinto(self, buffer):
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        if self.left:
            n = min(len(buffer), self.left, len(self.block))
            buffer[:n] = self.block[:n]
            self.left -= n
            return n
        n = min(len(buffer), len(self.tail))
        buffer[:n], self.tail = self.tail[:n], self.tail[n:]
        return n


def _peak_of_upload(client, size):
    body = _Generated(size)
    tracemalloc.start()
    try:
        made = client.post("/api/v1/tips", input_stream=body, content_length=body.length,
                           content_type=f"multipart/form-data; boundary={BOUNDARY}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert made.status_code == 201, made.get_data()
    return peak


def test_memory_while_uploading_does_not_grow_with_the_upload(client, app):
    # What an upload holds is its pipeline: the body's piece, the storing
    # thread's queue and the pieces it hands back, at most QUEUED + 2 whole
    # pieces. How many are in use at the peak depends on how the storing
    # thread keeps pace, so two uploads may differ by up to that many; the
    # 36 MiB more of the larger one must not show.
    pipeline = (attachments.BlobWriter.QUEUED + 2) * blobs.CHUNK_BYTES
    small, large = _peak_of_upload(client, 12 * 1024 * 1024), _peak_of_upload(client, 48 * 1024 * 1024)
    assert large < small + pipeline, (small, large)
    assert large < 16 * 1024 * 1024
