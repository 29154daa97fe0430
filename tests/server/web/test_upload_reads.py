"""A large upload is read from the server in large pieces, and still parsed under the form limits.

gunicorn copies the whole of its read-ahead buffer (up to 1 MiB) on every
read of a body, so reading 64 KiB at a time spent a third of an upload
copying (bench/RESULTS.md, "Attachment upload"). The views read 1 MiB at a
time and give the multipart decoder 64 KiB slices, whose form-memory limit
counts what it holds unparsed: a 1 MiB piece given whole would be refused.
"""

import io
import os

from tipdrop.common import sqlite
from tipdrop.server.web.upload import MAX_FIELD_BYTES

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


def _body(file_bytes):
    fields = (("region", "astana"), ("category", "fraud"), ("description", "A video of it."))
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
