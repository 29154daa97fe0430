"""The multipart decoder loop of tipdrop/server/web/upload.py alone, into a sink: a WSGI app.

It runs the same ``werkzeug.sansio.multipart.MultipartDecoder`` loop as
tipdrop/server/web/upload.py (same limits), keeps the text fields and throws every
file byte away: no Flask, no encryption, no disk. bench/upload.py runs it on
a body already in memory, to show that parsing is not what limits an upload.
It used to be served as the upload's bound, but its own decoder loop read the
body in 64 KiB pieces, slower than tipdrop's: the bound is now the transport
(bench/upload_reader.py). Benchmarks only; never part of tipdrop.
"""

import json

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_input_stream

from tipdrop.server.web.upload import MAX_FIELD_BYTES, MAX_PARTS, READ_SIZE


def app(environ, start_response):
    content_type = environ.get("CONTENT_TYPE", "")
    boundary = content_type.partition("boundary=")[2].strip('"').encode("ascii")
    # The stream tipdrop's views read: Flask's request.stream is this wrapper, with
    # the app's MAX_CONTENT_LENGTH (a limit above the body's length) as its bound.
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = get_input_stream(environ, max_content_length=length + 1024 * 1024)
    decoder = MultipartDecoder(boundary, max_form_memory_size=MAX_FIELD_BYTES, max_parts=MAX_PARTS)
    fields, part, buffer, discarded, finished = {}, None, None, 0, False
    while not finished:
        chunk = stream.read(READ_SIZE)
        decoder.receive_data(chunk or None)
        event = decoder.next_event()
        while not isinstance(event, NeedData):
            if isinstance(event, Epilogue):
                finished = True
                break
            if isinstance(event, Field):
                part, buffer = event.name, bytearray()
            elif isinstance(event, File):
                part, buffer = event.name, None
            elif isinstance(event, Data):
                if buffer is not None:
                    buffer += event.data
                    if not event.more_data:
                        fields[part] = bytes(buffer).decode("utf-8")
                else:
                    discarded += len(event.data)  # the sink
            event = decoder.next_event()
        if not chunk and not finished:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"cut short"]
    body = json.dumps({"fields": sorted(fields), "discarded": discarded}).encode()
    start_response("201 Created", [("Content-Type", "application/json"),
                                   ("Content-Length", str(len(body)))])
    return [body]
