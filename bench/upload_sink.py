"""The multipart reader of tipdrop/server/web/upload.py alone, into a sink: a WSGI app.

It runs tipdrop's own streaming reader (tipdrop/server/web/multipart.py) with
the same limits and read size as tipdrop/server/web/upload.py, keeps the text
fields and throws every file byte away: no Flask, no encryption, no disk.
bench/upload.py runs it on a body already in memory, to show what parsing
costs. It used to be served as the upload's bound, but its own decoder loop
was slower than tipdrop's: the bound is now the transport
(bench/upload_reader.py). Benchmarks only; never part of tipdrop.
"""

import json

from werkzeug.wsgi import get_input_stream

from tipdrop.server.web.multipart import MultipartReader
from tipdrop.server.web.upload import BODY_READ, MAX_FIELD_BYTES, MAX_PARTS


class _Sink:
    def __init__(self):
        self.fields, self.part, self.buffer, self.discarded = {}, None, None, 0

    def start_part(self, name, filename, headers):
        self.part, self.buffer = name, (bytearray() if filename is None else None)

    def data(self, view):
        if self.buffer is not None:
            self.buffer += view
        else:
            self.discarded += len(view)

    def end_part(self):
        if self.buffer is not None:
            self.fields[self.part] = bytes(self.buffer).decode()
        self.buffer = None


def app(environ, start_response):
    content_type = environ.get("CONTENT_TYPE", "")
    boundary = content_type.partition("boundary=")[2].strip('"').encode("ascii")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = get_input_stream(environ, max_content_length=length + 1024 * 1024)
    sink = _Sink()
    MultipartReader(stream.read, boundary, sink, read_size=BODY_READ, max_parts=MAX_PARTS,
                    max_preamble=MAX_FIELD_BYTES).run()
    answer = json.dumps({"fields": sorted(sink.fields), "discarded": sink.discarded}).encode()
    start_response("201 Created", [("Content-Type", "application/json"),
                                   ("Content-Length", str(len(answer)))])
    return [answer]
